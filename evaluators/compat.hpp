#pragma once
// The differences between the LibTorch versions ghnas builds against (1.13 from Debian on the
// CPU machines, 2.x with CUDA on the GPU machines), in one place.

#include <torch/torch.h>

#include <sstream>
#include <string>
#include <type_traits>

namespace ghnas {

/// The key under which an optimizer keeps a parameter's state: `optimizer.state()[key]`.
/// LibTorch 1.x keys it by the TensorImpl address printed as text, 2.x by the address itself.
template <class StateMap>
auto optimizer_state_key(const StateMap&, const torch::Tensor& param) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;  // how LibTorch 1.13 prints it (c10::guts::to_string)
    text << param.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

}  // namespace ghnas
