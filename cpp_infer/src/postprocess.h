// Softmax and top-k as ppcls_hrnet/runtime/postprocess.py's Topk does them.
#pragma once

#include <string>
#include <vector>

#include "ppcls_hrnet/classifier.h"

namespace ppcls_hrnet {

constexpr int kScoreDecimals = 5;  // Topk rounds printed scores to 5 decimals

// In place, per row: exp(x - max) / sum, in float32 (the predictor's _softmax).
void SoftmaxRows(float* data, int rows, int cols);

// The k best classes of one score row, best first; ties go to the lower class id (a stable sort).
// Names from `labels` (missing ids get ""); none when `labels` is empty.
Prediction TopK(const float* scores, int classes, int k, const std::vector<std::string>& labels);

}  // namespace ppcls_hrnet
