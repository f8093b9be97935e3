#include "postprocess.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace ppcls_hrnet {

void SoftmaxRows(float* data, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    float* row = data + static_cast<size_t>(r) * cols;
    float max = *std::max_element(row, row + cols);
    float sum = 0.f;
    for (int c = 0; c < cols; ++c) sum += (row[c] = std::exp(row[c] - max));
    for (int c = 0; c < cols; ++c) row[c] /= sum;
  }
}

Prediction TopK(const float* scores, int classes, int k, const std::vector<std::string>& labels) {
  k = std::min(k, classes);
  std::vector<int> order(classes);
  std::iota(order.begin(), order.end(), 0);
  // numpy's argsort(-scores, kind="stable"): descending, ties to the lower id, NaN last
  auto better = [scores](int a, int b) {
    float x = scores[a], y = scores[b];
    bool x_nan = std::isnan(x), y_nan = std::isnan(y);
    if (x_nan != y_nan) return y_nan;
    if (!x_nan && x != y) return x > y;
    return a < b;
  };
  std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
  Prediction prediction;
  for (int i = 0; i < k; ++i) {
    int id = order[i];
    prediction.class_ids.push_back(id);
    prediction.scores.push_back(scores[id]);
    if (!labels.empty()) prediction.label_names.push_back(id < static_cast<int>(labels.size()) ? labels[id] : "");
  }
  return prediction;
}

}  // namespace ppcls_hrnet
