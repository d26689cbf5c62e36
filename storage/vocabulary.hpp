#pragma once
// The closed vocabularies of the results database. Their spellings are what the database
// stores (CHECK constraints enforce them) and what users type after --fidelity.

#include <string>
#include <string_view>
#include <vector>

namespace ghnas {

/// Where a run stands. A run left `running` by a process that died is marked `interrupted`
/// the next time a writer opens the database.
enum class RunStatus { kRunning, kFinished, kFailed, kInterrupted };

/// Which kind of evaluator produced a number (the cascade of DESIGN.md, plus lookups and proxies):
///   heads                 GHN embedding + property heads (no decoder); an estimate
///   predicted-parameters  the network run with GHN-predicted weights; an estimate
///   sgd                   the network trained by SGD; a measurement (ground truth)
///   table                 looked up in a published benchmark table; a measurement
///   proxy                 a zero-cost proxy (synflow, NASWOT, snip, ...); a score, not an accuracy
enum class Fidelity { kHeads, kPredictedParameters, kSgd, kTable, kProxy };

/// The outcome of one evaluation. Anything but `ok` carries no value (NULL in the database) and
/// usually an error text; these are data, recorded so a search does not retry them blindly.
enum class EvalStatus { kOk, kDiverged, kFailed, kOom, kInvalid };

std::string_view to_string(RunStatus status);
std::string_view to_string(Fidelity fidelity);
std::string_view to_string(EvalStatus status);

/// Parse the stored/typed spelling. Throw ConfigError naming the bad word and listing the
/// valid ones.
RunStatus parse_run_status(std::string_view text);
Fidelity parse_fidelity(std::string_view text);
EvalStatus parse_eval_status(std::string_view text);

/// All spellings, in declaration order (for --help and error messages).
std::vector<std::string> run_status_names();
std::vector<std::string> fidelity_names();
std::vector<std::string> eval_status_names();

}  // namespace ghnas
