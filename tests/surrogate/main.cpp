// Test entry point: torch's thread count and seed are set before any test runs, so results do not
// depend on the machine's defaults (Debian's LibTorch uses one thread unless told otherwise).

#include <gtest/gtest.h>
#include <torch/torch.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  torch::set_num_threads(2);
  torch::manual_seed(0);
  return RUN_ALL_TESTS();
}
