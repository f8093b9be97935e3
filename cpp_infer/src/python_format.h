// Python's text for the values in the CLI's result line, so the C++ CLI prints
// exactly what `ppcls-hrnet predict` prints.
#pragma once

#include <string>
#include <vector>

namespace ppcls_hrnet {

double PyRound(double x, int ndigits);                       // round(x, ndigits)
std::string PyFloatRepr(double x);                           // repr(x): 0.93, 1.0, 0.00012, 1e-05
std::string PyStrRepr(const std::string& utf8);              // repr(s): 'T-shirt/top', "men's"
std::string PyIntListRepr(const std::vector<int>& values);   // [3, 1, 0]
std::string PyStrListRepr(const std::vector<std::string>& values);  // ['a', 'b']

}  // namespace ppcls_hrnet
