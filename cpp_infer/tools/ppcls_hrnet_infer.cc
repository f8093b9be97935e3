// ppcls_hrnet_infer: the C++ twin of `ppcls-hrnet predict --inference_model_dir DIR`.
//
//   ppcls_hrnet_infer --model_dir DIR --infer_imgs FILE_OR_DIR [more ...] [--backend openvino|paddle]
//       [--precision auto|fp32|bf16|int8|fp16] [--cpu_threads N] [--batch_size N] [--topk K] [--benchmark]
//
// stdout: one line per image exactly as the Python CLI prints it, then "Predict complete!".
// stderr: the model line (with the precision run: auto resolved to bf16 or fp32), and one line
// per image that could not be predicted.
// Exit: 0 all predicted, 1 some inputs failed (the rest predicted), 2 a usage or model error.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ppcls_hrnet/classifier.h"
#include "image_list.h"  // src/: how the Python CLI lists a folder

namespace {

using ppcls_hrnet::Options;

const char* kUsage =
    "usage: ppcls_hrnet_infer --model_dir DIR --infer_imgs FILE_OR_DIR [FILE_OR_DIR ...]\n"
    "                         [--backend openvino|paddle] [--precision auto|fp32|bf16|int8|fp16]\n"
    "                         [--cpu_threads N] [--batch_size N] [--topk K] [--benchmark] [--warmup N]\n"
    "                         [--openvino_cache DIR|none] [--full_decode]\n"
    "                         [--use_gpu] [--use_tensorrt] [--gpu_id N] [--gpu_mem MB] [--enable_mkldnn BOOL]\n"
    "                         [--max_batch_size N]   (Paddle Inference builds)\n"
    "\n"
    "Classifies images with an exported model directory (its inference.yml gives the preprocessing,\n"
    "softmax, top-k and labels) and prints what `ppcls-hrnet predict` prints.\n"
    "  --model_dir        exported model (inference.yml + inference.pdmodel/.onnx); alias --inference_model_dir\n"
    "  --infer_imgs       image files and/or folders (searched recursively, sorted)\n"
    "  --backend          openvino (default) | paddle (a build with -DWITH_PADDLE_INFERENCE=ON)\n"
    "  --precision        auto (default: bf16 where the CPU computes it natively and the model's\n"
    "                     PrecisionCheck allows, else fp32) | fp32 | bf16 | int8 (OpenVINO:\n"
    "                     inference_int8.onnx) | fp16 (Paddle GPU)\n"
    "  --cpu_threads      inference threads (default 2); alias --cpu_num_threads\n"
    "  --batch_size       images per inference call (default 1)\n"
    "  --topk             classes per image (default: inference.yml's)\n"
    "  --benchmark        print per-stage times (preprocess, inference, postprocess) at the end\n"
    "  --warmup           --benchmark: leave the first N batches out of the times (default 0)\n"
    "  --openvino_cache   OpenVINO's compiled-model cache (default $PPCLS_HRNET_HOME/openvino_cache)\n"
    "  --full_decode      decode whole JPEGs even where resize + crop use only part of them\n";

struct Args {
  std::string model_dir;
  std::vector<std::string> infer_imgs;
  Options options;
  int batch_size = 1;
  bool benchmark = false;
  int warmup = 0;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int ToInt(const std::string& flag, const std::string& text, int minimum) {
  try {
    size_t used = 0;
    int value = std::stoi(text, &used);
    if (used == text.size() && value >= minimum) return value;
  } catch (const std::exception&) {
  }
  throw UsageError("argument " + flag + ": expected an integer >= " + std::to_string(minimum) + ", got '" + text +
                   "'");
}

bool ToBool(const std::string& flag, const std::string& text) {  // the Python CLI's str2bool
  static const std::set<std::string> yes = {"true", "True", "TRUE", "1", "yes", "y", "t"};
  static const std::set<std::string> no = {"false", "False", "FALSE", "0", "no", "n", "f"};
  if (yes.count(text)) return true;
  if (no.count(text)) return false;
  throw UsageError("argument " + flag + ": expected true or false, got '" + text + "'");
}

Args Parse(int argc, char** argv) {
  Args args;
  const std::set<std::string> flags = {"--benchmark", "--use_gpu", "--use_tensorrt", "--full_decode"};
  const std::set<std::string> valued = {"--model_dir",   "--inference_model_dir", "--infer_imgs",  "--backend",
                                        "--precision",   "--cpu_threads",         "--cpu_num_threads",
                                        "--batch_size",  "--topk",                "--warmup",      "--gpu_id",
                                        "--gpu_mem",     "--enable_mkldnn",       "--max_batch_size",
                                        "--openvino_cache"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool has_value = false;
    size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (flags.count(arg)) {
      if (!has_value && i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        value = argv[++i];
        has_value = true;
      }
      bool on = has_value ? ToBool(arg, value) : true;
      if (arg == "--benchmark") args.benchmark = on;
      if (arg == "--use_gpu") args.options.use_gpu = on;
      if (arg == "--use_tensorrt") args.options.use_tensorrt = on;
      if (arg == "--full_decode") args.options.crop_aware_decode = !on;
      continue;
    }
    if (!valued.count(arg)) throw UsageError("unrecognized argument: " + std::string(argv[i]));
    if (!has_value) {
      if (i + 1 >= argc) throw UsageError("argument " + arg + ": expected a value");
      value = argv[++i];
    }
    if (arg == "--infer_imgs") {  // one or more, like the Python CLI's nargs="+"
      args.infer_imgs.push_back(value);
      while (!has_value && i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        args.infer_imgs.push_back(argv[++i]);
    } else if (arg == "--model_dir" || arg == "--inference_model_dir") {
      args.model_dir = value;
    } else if (arg == "--backend") {
      args.options.backend = value;
    } else if (arg == "--precision") {
      args.options.precision = value;
    } else if (arg == "--cpu_threads" || arg == "--cpu_num_threads") {
      args.options.cpu_threads = ToInt(arg, value, 1);
    } else if (arg == "--batch_size") {
      args.batch_size = ToInt(arg, value, 1);
    } else if (arg == "--topk") {
      args.options.topk = ToInt(arg, value, 1);
    } else if (arg == "--warmup") {
      args.warmup = ToInt(arg, value, 0);
    } else if (arg == "--gpu_id") {
      args.options.gpu_id = ToInt(arg, value, 0);
    } else if (arg == "--gpu_mem") {
      args.options.gpu_mem_mb = ToInt(arg, value, 1);
    } else if (arg == "--max_batch_size") {
      args.options.max_batch_size = ToInt(arg, value, 1);
    } else if (arg == "--enable_mkldnn") {
      args.options.enable_mkldnn = ToBool(arg, value);
    } else if (arg == "--openvino_cache") {
      args.options.openvino_cache_dir = value == "none" ? "" : value;
    }
  }
  if (args.model_dir.empty()) throw UsageError("the following arguments are required: --model_dir");
  if (args.infer_imgs.empty()) throw UsageError("the following arguments are required: --infer_imgs");
  return args;
}

// The Python CLI's log line format: "[2026/12/02 06:43:33] ppcls_hrnet ERROR: ..."
void Log(const char* level, const std::string& message) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S", std::localtime(&now));
  std::cerr << "[" << stamp << "] ppcls_hrnet " << level << ": " << message << std::endl;
}

void Report(const Args& args, const ppcls_hrnet::Classifier& classifier, double wall_s) {
  const ppcls_hrnet::StageTimes& t = classifier.times();
  const Options& o = args.options;
  std::vector<int> chw = classifier.input_shape();
  auto per_image = [&](double seconds) { return t.images ? 1000.0 * seconds / t.images : 0.0; };
  std::printf("----------------------- Config info -----------------------\n");
  std::printf("runtime_device: %s\n", o.use_gpu || o.use_tensorrt ? "gpu" : "cpu");
  std::printf("backend: %s\n", classifier.backend().c_str());
  std::printf("enable_tensorrt: %s\n", o.use_tensorrt ? "True" : "False");
  std::printf("enable_mkldnn: %s\n", o.backend == "paddle" && o.enable_mkldnn ? "True" : "False");
  std::printf("cpu_math_library_num_threads: %d\n", o.cpu_threads);
  std::printf("----------------------- Data info -----------------------\n");
  std::printf("batch_size: %d\n", args.batch_size);
  std::printf("input_shape: [-1, %d, %d, %d]\n", chw[0], chw[1], chw[2]);
  std::printf("data_num: %ld\n", t.images);
  std::printf("warmup_batches: %d\n", args.warmup);
  std::printf("----------------------- Model info -----------------------\n");
  std::printf("model_name: %s\n", classifier.model_name().c_str());
  std::printf("model_file: %s\n", classifier.model_file().c_str());
  std::printf("precision: %s\n", classifier.precision().c_str());
  std::printf("----------------------- Perf info ------------------------\n");
  std::printf("total time spent(s): %.4f\n", wall_s);
  std::printf("preprocess_time(ms): %.4f, inference_time(ms): %.4f, postprocess_time(ms): %.4f\n",
              per_image(t.preprocess_s), per_image(t.inference_s), per_image(t.postprocess_s));
  std::printf("images/s: %.2f\n", wall_s > 0 ? t.images / wall_s : 0.0);
}

int Main(int argc, char** argv) {
  Args args;
  try {
    args = Parse(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << kUsage << "error: " << e.what() << std::endl;
    return 2;
  }
  try {
    std::vector<std::string> images = ppcls_hrnet::ListImages(args.infer_imgs);  // before the slow part
    ppcls_hrnet::Classifier classifier(args.model_dir, args.options);
    if (!classifier.auto_precision_note().empty())  // as the Python predictor logs it
      Log("INFO", "precision auto: " + classifier.auto_precision_note() + "; running fp32");
    Log("INFO", classifier.model_name() + " on " + classifier.backend() + " (" + classifier.precision() + ", " +
                    classifier.model_file() + ")");
    size_t failed = 0;
    auto timed_start = std::chrono::steady_clock::now();
    size_t batch_no = 0;
    for (size_t start = 0; start < images.size(); start += args.batch_size, ++batch_no) {
      if (args.benchmark && static_cast<int>(batch_no) == args.warmup) {
        classifier.ResetTimes();
        timed_start = std::chrono::steady_clock::now();
      }
      std::vector<std::string> chunk(images.begin() + start,
                                     images.begin() + std::min(images.size(), start + args.batch_size));
      std::vector<ppcls_hrnet::Prediction> predictions = classifier.PredictFiles(chunk);
      for (size_t i = 0; i < chunk.size(); ++i)
        if (!predictions[i].ok()) {
          ++failed;
          Log("ERROR", "skipping " + chunk[i] + ": " + predictions[i].error);
        }
      for (size_t i = 0; i < chunk.size(); ++i)
        if (predictions[i].ok()) std::printf("%s\n", ppcls_hrnet::FormatResult(chunk[i], predictions[i]).c_str());
    }
    double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - timed_start).count();
    std::printf("Predict complete!\n");
    if (args.benchmark) Report(args, classifier, static_cast<int>(batch_no) > args.warmup ? wall_s : 0.0);
    std::fflush(stdout);
    if (failed) {
      std::cerr << failed << " of " << images.size() << " inputs could not be predicted (see the errors above)"
                << std::endl;
      return 1;
    }
    return 0;
  } catch (const ppcls_hrnet::Error& e) {
    std::fflush(stdout);
    std::cerr << "error: " << e.what() << std::endl;
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
