// The library on images you decoded yourself: cv::imread (BGR) -> Classifier::Predict.
//
//   classify_mats MODEL_DIR BATCH_SIZE IMAGE [IMAGE ...]
//
// Prints the same lines as ppcls_hrnet_infer (the tests compare the two). An image
// cv::imread cannot read is reported and skipped.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "ppcls_hrnet/classifier.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR BATCH_SIZE IMAGE [IMAGE ...]\n", argv[0]);
    return 2;
  }
  try {
    ppcls_hrnet::Classifier classifier(argv[1]);
    const size_t batch_size = std::max(1, std::atoi(argv[2]));
    int failed = 0;
    for (int start = 3; start < argc; start += static_cast<int>(batch_size)) {
      std::vector<std::string> names;
      std::vector<cv::Mat> images;
      for (int i = start; i < argc && names.size() < batch_size; ++i) {
        cv::Mat image = cv::imread(argv[i], cv::IMREAD_COLOR);
        if (image.empty()) {
          std::fprintf(stderr, "skipping %s: cv::imread cannot read it\n", argv[i]);
          ++failed;
          continue;
        }
        names.push_back(argv[i]);
        images.push_back(image);
      }
      std::vector<ppcls_hrnet::Prediction> predictions = classifier.Predict(images);
      for (size_t i = 0; i < predictions.size(); ++i) {
        if (predictions[i].ok()) {
          std::printf("%s\n", ppcls_hrnet::FormatResult(names[i], predictions[i]).c_str());
        } else {
          std::fprintf(stderr, "skipping %s: %s\n", names[i].c_str(), predictions[i].error.c_str());
          ++failed;
        }
      }
    }
    return failed ? 1 : 0;
  } catch (const ppcls_hrnet::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
