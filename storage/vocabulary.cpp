#include "storage/vocabulary.hpp"

#include <array>

#include "core/error.hpp"

namespace ghnas {

namespace {

constexpr std::array<std::string_view, 4> kRunStatus = {"running", "finished", "failed",
                                                        "interrupted"};
constexpr std::array<std::string_view, 5> kFidelity = {"heads", "predicted-parameters", "sgd",
                                                       "table", "proxy"};
constexpr std::array<std::string_view, 5> kEvalStatus = {"ok", "diverged", "failed", "oom",
                                                         "invalid"};

template <std::size_t N>
std::size_t index_of(const std::array<std::string_view, N>& names, std::string_view text,
                     std::string_view what) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == text) return i;
  std::string valid;
  for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + std::string(n);
  throw ConfigError(detail::str_cat("unknown ", what, " '", text, "' (valid: ", valid, ")"));
}

template <std::size_t N>
std::vector<std::string> names_of(const std::array<std::string_view, N>& names) {
  return {names.begin(), names.end()};
}

}  // namespace

std::string_view to_string(RunStatus status) { return kRunStatus.at(static_cast<std::size_t>(status)); }
std::string_view to_string(Fidelity fidelity) { return kFidelity.at(static_cast<std::size_t>(fidelity)); }
std::string_view to_string(EvalStatus status) { return kEvalStatus.at(static_cast<std::size_t>(status)); }

RunStatus parse_run_status(std::string_view text) {
  return static_cast<RunStatus>(index_of(kRunStatus, text, "run status"));
}
Fidelity parse_fidelity(std::string_view text) {
  return static_cast<Fidelity>(index_of(kFidelity, text, "fidelity"));
}
EvalStatus parse_eval_status(std::string_view text) {
  return static_cast<EvalStatus>(index_of(kEvalStatus, text, "evaluation status"));
}

std::vector<std::string> run_status_names() { return names_of(kRunStatus); }
std::vector<std::string> fidelity_names() { return names_of(kFidelity); }
std::vector<std::string> eval_status_names() { return names_of(kEvalStatus); }

}  // namespace ghnas
