// The shape encoder's vocabularies and snapping rules, as the reference's ShapeEncoder builds them.

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "surrogate/ghn.hpp"
#include "surrogate/shape_encoder.hpp"

namespace ghnas {
namespace {

TEST(ShapeVocabulary, CifarVocabulariesHaveTheReferenceSizes) {
  const ShapeVocabulary v(GhnConfig{});
  EXPECT_EQ(v.channels().size(), 391u);  // embed_channel has 392 rows (one for "no shape")
  EXPECT_EQ(v.spatial(), (std::vector<std::int64_t>{1, 3, 5, 7, 9, 11, 14, 16}));
  EXPECT_EQ(v.channels().front(), 1);
  EXPECT_EQ(v.channels()[2], 8);
  EXPECT_EQ(v.channels()[3], 10);  // num_classes joins the vocabulary
  EXPECT_EQ(v.channels().back(), 8192);
}

TEST(ShapeVocabulary, ImageNetSpatialVocabularyReaches15) {
  GhnConfig c;
  c.max_shape = {64, 64, 16, 16};
  c.num_classes = 1000;
  const ShapeVocabulary v(c);
  EXPECT_EQ(v.spatial(), (std::vector<std::int64_t>{1, 3, 5, 7, 9, 11, 13, 14, 15, 16}));
  EXPECT_EQ(v.channels().size(), 391u);  // num_classes 1000 takes the place of 10
}

TEST(ShapeEncoder, ImageNetGhn2HasTheReferenceParameterCount) {
  GhnConfig c;
  c.max_shape = {64, 64, 16, 16};
  c.num_classes = 1000;
  EXPECT_EQ(Ghn(c)->num_weights(), 2319720);  // ghn2.md: GHN-2 for ImageNet
}

TEST(ShapeVocabulary, SnapsUnseenSizesAsTheReference) {
  const ShapeVocabulary v(GhnConfig{});
  const auto& ch = v.channels();
  auto channel = [&](std::int64_t c) { return ch[v.channel_index(c)]; };
  EXPECT_EQ(channel(2), 1);     // tie between 1 and 3: the smaller
  for (int c = 4; c < 8; ++c) EXPECT_EQ(channel(c), 8) << c;
  EXPECT_EQ(channel(12), 10);   // 10 is 2 away, 16 is 4
  EXPECT_EQ(channel(70), 64);   // 64 and 80: nearer 64
  EXPECT_EQ(channel(72), 64);   // tie: the smaller
  EXPECT_EQ(channel(100), 96);
  EXPECT_EQ(channel(4100), 4096);
  EXPECT_EQ(channel(10000), 8192);  // beyond the vocabulary: its largest entry
  EXPECT_EQ(channel(0), 8192);
  const auto& sp = v.spatial();
  auto spatial = [&](std::int64_t k) { return sp[v.spatial_index(k)]; };
  EXPECT_EQ(spatial(2), 3);
  EXPECT_EQ(spatial(4), 3);
  EXPECT_EQ(spatial(12), 11);
  EXPECT_EQ(spatial(13), 14);
  EXPECT_EQ(spatial(15), 14);
  EXPECT_EQ(spatial(32), 16);
}

TEST(ShapeVocabulary, EncodesShapesMadeFourDimensional) {
  const ShapeVocabulary v(GhnConfig{});
  const auto n_ch = static_cast<std::int64_t>(v.channels().size()), n_sp = static_cast<std::int64_t>(v.spatial().size());
  EXPECT_EQ(v.encode({}), (std::array<std::int64_t, 4>{n_ch, n_ch, n_sp, n_sp}));
  EXPECT_EQ(ShapeVocabulary::to_4d({64}), (std::array<std::int64_t, 4>{64, 1, 1, 1}));
  EXPECT_EQ(ShapeVocabulary::to_4d({10, 256}), (std::array<std::int64_t, 4>{10, 256, 1, 1}));
  EXPECT_EQ(ShapeVocabulary::to_4d({1, 197, 768}), (std::array<std::int64_t, 4>{1, 768, 14, 14}));
  EXPECT_EQ(ShapeVocabulary::to_4d({4, 5, 6}), (std::array<std::int64_t, 4>{4, 5, 6, 1}));
  const auto ids = v.encode({32, 3, 3, 3});
  EXPECT_EQ(v.channels()[ids[0]], 32);
  EXPECT_EQ(v.channels()[ids[1]], 3);
  EXPECT_EQ(v.spatial()[ids[2]], 3);
  EXPECT_THROW(v.encode({1, 2, 3, 4, 5}), ArchError);
}

TEST(ShapeEncoder, AddsFourQuarterWidthEmbeddings) {
  torch::manual_seed(0);
  ShapeEncoder enc(GhnConfig{});
  EXPECT_EQ(enc->embed_channel->weight.sizes(), (std::vector<std::int64_t>{392, 8}));
  EXPECT_EQ(enc->embed_spatial->weight.sizes(), (std::vector<std::int64_t>{9, 8}));
  const auto ids = torch::tensor({5, 7, 2, 3}, torch::kLong).view({1, 4});
  const auto out = enc(ids);
  ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{1, 32}));
  EXPECT_TRUE(torch::equal(out[0].narrow(0, 0, 8), enc->embed_channel->weight[5]));
  EXPECT_TRUE(torch::equal(out[0].narrow(0, 8, 8), enc->embed_channel->weight[7]));
  EXPECT_TRUE(torch::equal(out[0].narrow(0, 16, 8), enc->embed_spatial->weight[2]));
  EXPECT_TRUE(torch::equal(out[0].narrow(0, 24, 8), enc->embed_spatial->weight[3]));
}

}  // namespace
}  // namespace ghnas
