#pragma once
// A task fixes what a network sees and predicts: the input image and the number of classes.
// Graph building takes one, so the same architecture has different shapes per task.

#include <string>
#include <vector>

namespace ghnas {

struct Task {
  std::string name;
  int channels = 3;
  int height = 32;
  int width = 32;
  int classes = 10;
  /// True for ImageNet-sized inputs (224x224): DeepNets-1M stems then downsample early.
  bool imagenet_input = false;
};

/// Built-in tasks: "cifar10" (3x32x32, 10), "fashion-mnist" (1x28x28, 10),
/// "imagenet" (3x224x224, 1000). Throws ConfigError listing them for an unknown name.
Task task_by_name(const std::string& name);

/// Names accepted by task_by_name, for --help.
std::vector<std::string> task_names();

}  // namespace ghnas
