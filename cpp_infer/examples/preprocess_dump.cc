// What the model is fed, per image: Classifier::Preprocess, written as raw float32 (C x H x W).
// The tests compare these with the Python ops' arrays; with --time it reports the best of N runs.
//
//   preprocess_dump MODEL_DIR OUT_DIR [--full_decode] [--time N] IMAGE [IMAGE ...]
//
// OUT_DIR/<k>.f32 for the k-th image (0-based); an image that fails gets OUT_DIR/<k>.err (its message).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ppcls_hrnet/classifier.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR OUT_DIR [--full_decode] [--time N] IMAGE [IMAGE ...]\n", argv[0]);
    return 2;
  }
  ppcls_hrnet::Options options;
  int first = 3, repeats = 0;
  while (first < argc && std::strncmp(argv[first], "--", 2) == 0) {
    if (std::strcmp(argv[first], "--full_decode") == 0) {
      options.crop_aware_decode = false;
      first += 1;
    } else if (std::strcmp(argv[first], "--time") == 0 && first + 1 < argc) {
      repeats = std::atoi(argv[first + 1]);
      first += 2;
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[first]);
      return 2;
    }
  }
  try {
    ppcls_hrnet::Classifier classifier(argv[1], options);
    const std::string out = argv[2];
    double best_total = 0;
    for (int i = first; i < argc; ++i) {
      std::ifstream file(argv[i], std::ios::binary);
      std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      const std::string stem = out + "/" + std::to_string(i - first);
      try {
        cv::Mat planes = classifier.Preprocess(bytes);
        std::ofstream(stem + ".f32", std::ios::binary)
            .write(reinterpret_cast<const char*>(planes.ptr<float>()), planes.total() * sizeof(float));
        double best = 1e9;
        for (int r = 0; r < repeats; ++r) {
          auto start = std::chrono::steady_clock::now();
          classifier.Preprocess(bytes);
          best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
        if (repeats) best_total += best;
      } catch (const ppcls_hrnet::ImageError& e) {
        std::ofstream(stem + ".err") << e.what();
      }
    }
    if (repeats) std::printf("best preprocess time: %.4f ms per image\n", 1000 * best_total / (argc - first));
    return 0;
  } catch (const ppcls_hrnet::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
