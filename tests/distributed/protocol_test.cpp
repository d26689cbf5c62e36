// The messages between rank 0 and the workers carry candidates and answers unchanged: a
// distributed search can only equal a single-process one if nothing is lost in transit.

#include "distributed/protocol.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace {

using namespace ghnas;
using namespace ghnas::distributed;

TEST(Protocol, WorkKeepsEveryCandidateField) {
  WorkMessage work;
  work.chunk = 41;
  work.evaluator = "ghn-heads";
  Candidate c;
  c.id = 12345;
  c.arch = {"nasbench201", "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"};
  c.hash = "abc123";
  Candidate invalid;  // an invalid architecture travels with an empty hash
  invalid.id = 7;
  invalid.arch = {"deepnets1m", {{"cell", {1, 2, 3}}, {"width", 16}}};
  work.candidates = {c, invalid};

  const WorkMessage back = decode_work(encode(work));
  EXPECT_EQ(back.chunk, 41u);
  EXPECT_EQ(back.evaluator, "ghn-heads");
  ASSERT_EQ(back.candidates.size(), 2u);
  EXPECT_EQ(back.candidates[0].id, 12345u);
  EXPECT_EQ(back.candidates[0].arch.space, "nasbench201");
  EXPECT_EQ(back.candidates[0].arch.spec, c.arch.spec);
  EXPECT_EQ(back.candidates[0].hash, "abc123");
  EXPECT_EQ(back.candidates[1].arch.spec, invalid.arch.spec);
  EXPECT_EQ(back.candidates[1].hash, "");
}

TEST(Protocol, AnswersKeepExactValuesAndNonFiniteOnes) {
  AnswerMessage answer;
  answer.chunk = 9;
  answer.seconds = 0.25;
  answer.answers.push_back(CandidateEvaluation::ok(
      {{"clean_acc", 0.1 + 0.2}, {"tiny", 4.9e-324}, {"nan", std::nan("")},
       {"inf", std::numeric_limits<double>::infinity()}, {"ninf", -std::numeric_limits<double>::infinity()}},
      /*charged=*/false));
  answer.answers.push_back(CandidateEvaluation::failed("loss is nan at step 3"));
  answer.answers.push_back(CandidateEvaluation::unknown("not in table"));
  CandidateEvaluation oom;
  oom.status = CandidateStatus::kOom;
  answer.answers.push_back(oom);

  const AnswerMessage back = decode_answer(encode(answer));
  EXPECT_EQ(back.chunk, 9u);
  EXPECT_EQ(back.seconds, 0.25);
  EXPECT_TRUE(back.error.empty());
  ASSERT_EQ(back.answers.size(), 4u);
  const auto& m = back.answers[0].metrics;
  EXPECT_EQ(m.at("clean_acc"), 0.1 + 0.2);  // bit for bit, not approximately
  EXPECT_EQ(m.at("tiny"), 4.9e-324);
  EXPECT_TRUE(std::isnan(m.at("nan")));
  EXPECT_EQ(m.at("inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(m.at("ninf"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(back.answers[0].status, CandidateStatus::kOk);
  EXPECT_FALSE(back.answers[0].charged);
  EXPECT_EQ(back.answers[1].status, CandidateStatus::kFailed);
  EXPECT_EQ(back.answers[1].message, "loss is nan at step 3");
  EXPECT_TRUE(back.answers[1].charged);
  EXPECT_EQ(back.answers[2].status, CandidateStatus::kUnknown);
  EXPECT_FALSE(back.answers[2].charged);
  EXPECT_EQ(back.answers[3].status, CandidateStatus::kOom);
}

TEST(Protocol, AnEvaluatorErrorTravelsInsteadOfAnswers) {
  AnswerMessage answer;
  answer.chunk = 3;
  answer.error = "CUDA out of memory";
  const AnswerMessage back = decode_answer(encode(answer));
  EXPECT_EQ(back.chunk, 3u);
  EXPECT_EQ(back.error, "CUDA out of memory");
  EXPECT_TRUE(back.answers.empty());
}

TEST(Protocol, MalformedMessagesThrowSayingWhich) {
  try {
    decode_work("{\"chunk\": 1}");
    FAIL() << "a work message without candidates was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("work message"), std::string::npos) << e.what();
  }
  EXPECT_THROW(decode_answer("not json"), Error);
  EXPECT_THROW(decode_answer("{\"chunk\": 1, \"answers\": [{\"status\": \"great\", \"metrics\": {}, "
                             "\"message\": \"\", \"charged\": true}]}"),
               Error);
}

}  // namespace
