#include "distributed/protocol.hpp"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace ghnas::distributed {

namespace {

// JSON has no NaN or infinity (nlohmann writes null), yet a head may predict NaN and the
// recorder must see exactly what a single-process run would: non-finite values travel as text.
nlohmann::json metric_value(double v) {
  if (std::isfinite(v)) return v;
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

double metric_value(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.get<std::string>();
  if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (s == "inf") return std::numeric_limits<double>::infinity();
  if (s == "-inf") return -std::numeric_limits<double>::infinity();
  throw Error("distributed: bad metric value '" + s + "'");
}

CandidateStatus status_by_name(const std::string& name) {
  for (CandidateStatus s : {CandidateStatus::kOk, CandidateStatus::kDiverged, CandidateStatus::kFailed,
                            CandidateStatus::kOom, CandidateStatus::kInvalid, CandidateStatus::kUnknown,
                            CandidateStatus::kScreened})
    if (name == candidate_status_name(s)) return s;
  throw Error("distributed: unknown candidate status '" + name + "'");
}

nlohmann::json parse(const std::string& text, const char* kind) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("distributed: malformed ") + kind + " message: " + e.what());
  }
}

}  // namespace

std::string encode(const WorkMessage& message) {
  nlohmann::json candidates = nlohmann::json::array();
  for (const Candidate& c : message.candidates)
    candidates.push_back({{"id", c.id}, {"space", c.arch.space}, {"spec", c.arch.spec}, {"hash", c.hash}});
  return nlohmann::json{{"chunk", message.chunk}, {"evaluator", message.evaluator}, {"candidates", candidates}}
      .dump();
}

std::string encode(const AnswerMessage& message) {
  nlohmann::json j = {{"chunk", message.chunk}, {"seconds", message.seconds}};
  if (!message.error.empty()) {
    j["error"] = message.error;
    return j.dump();
  }
  nlohmann::json answers = nlohmann::json::array();
  for (const CandidateEvaluation& e : message.answers) {
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& [name, value] : e.metrics) metrics[name] = metric_value(value);
    answers.push_back({{"status", candidate_status_name(e.status)}, {"metrics", metrics},
                       {"message", e.message}, {"charged", e.charged}});
  }
  j["answers"] = std::move(answers);
  return j.dump();
}

WorkMessage decode_work(const std::string& text) {
  const nlohmann::json j = parse(text, "work");
  WorkMessage m;
  try {
    m.chunk = j.at("chunk").get<std::uint64_t>();
    m.evaluator = j.at("evaluator").get<std::string>();
    for (const auto& c : j.at("candidates")) {
      Candidate candidate;
      candidate.id = c.at("id").get<std::size_t>();
      candidate.arch.space = c.at("space").get<std::string>();
      candidate.arch.spec = c.at("spec");
      candidate.hash = c.at("hash").get<std::string>();
      m.candidates.push_back(std::move(candidate));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("distributed: malformed work message: ") + e.what());
  }
  return m;
}

AnswerMessage decode_answer(const std::string& text) {
  const nlohmann::json j = parse(text, "answer");
  AnswerMessage m;
  try {
    m.chunk = j.at("chunk").get<std::uint64_t>();
    m.seconds = j.value("seconds", 0.0);
    if (j.contains("error")) {
      m.error = j.at("error").get<std::string>();
      if (m.error.empty()) m.error = "the worker's evaluator failed";
      return m;
    }
    for (const auto& a : j.at("answers")) {
      CandidateEvaluation e;
      e.status = status_by_name(a.at("status").get<std::string>());
      for (const auto& [name, value] : a.at("metrics").items()) e.metrics[name] = metric_value(value);
      e.message = a.at("message").get<std::string>();
      e.charged = a.at("charged").get<bool>();
      m.answers.push_back(std::move(e));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("distributed: malformed answer message: ") + e.what());
  }
  return m;
}

}  // namespace ghnas::distributed
