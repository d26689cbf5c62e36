#include "space/task.hpp"

#include "core/error.hpp"

namespace ghnas {

namespace {
const std::vector<Task>& builtin_tasks() {
  static const std::vector<Task> tasks = {
      {"cifar10", 3, 32, 32, 10, false},
      {"fashion-mnist", 1, 28, 28, 10, false},
      {"imagenet", 3, 224, 224, 1000, true},
  };
  return tasks;
}
}  // namespace

Task task_by_name(const std::string& name) {
  for (const Task& t : builtin_tasks())
    if (t.name == name) return t;
  std::string valid;
  for (const Task& t : builtin_tasks()) valid += (valid.empty() ? "" : ", ") + t.name;
  throw ConfigError("unknown task '" + name + "'; valid tasks: " + valid);
}

std::vector<std::string> task_names() {
  std::vector<std::string> names;
  for (const Task& t : builtin_tasks()) names.push_back(t.name);
  return names;
}

}  // namespace ghnas
