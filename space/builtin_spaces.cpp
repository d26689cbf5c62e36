#include <memory>

#include "space/deepnets1m.hpp"
#include "space/nasbench201.hpp"
#include "space/search_space.hpp"

namespace ghnas {

void register_builtin_spaces() {
  static const bool registered = [] {
    register_space("deepnets1m", [](const SpaceOptions& o) {
      return std::make_unique<DeepNets1mSpace>(o);
    });
    register_space("nasbench201", [](const SpaceOptions& o) {
      return std::make_unique<NasBench201Space>(o);
    });
    return true;
  }();
  (void)registered;
}

}  // namespace ghnas
