// MockScheduler: a sampler whose schedule the test writes (set_schedule), for code that drives a
// Scheduler without depending on any family's arithmetic (timestep windows, pipelines).
#pragma once

#include <cstdint>
#include <string>

#include <gmock/gmock.h>

#include "schedulers/scheduler.h"

namespace workers {

class MockScheduler : public Scheduler {
 public:
  MockScheduler() {
    ON_CALL(*this, class_name()).WillByDefault(::testing::Return(std::string("MockScheduler")));
    ON_CALL(*this, init_noise_sigma()).WillByDefault(::testing::Return(1.0));
    ON_CALL(*this, scale_model_input(::testing::_, ::testing::_))
        .WillByDefault([](const at::Tensor& sample, double) { return sample; });
    ON_CALL(*this, order()).WillByDefault(::testing::Return(1));
  }

  // timesteps()/sigmas() read protected members that only a subclass can write; a test sets
  // them here (set_timesteps is mocked, so it does not build them).
  void set_schedule(at::Tensor timesteps, at::Tensor sigmas = {}, std::int64_t train_timesteps = 1000) {
    timesteps_ = std::move(timesteps);
    sigmas_ = std::move(sigmas);
    train_timesteps_ = train_timesteps;
  }
  // begin_index_ is what select_timesteps hands the scheduler (set_begin_index); -1 when unset.
  std::int64_t begin_index() const { return begin_index_; }

  MOCK_METHOD(std::string, class_name, (), (const, override));
  MOCK_METHOD(void, set_timesteps, (std::int64_t steps), (override));
  MOCK_METHOD(double, init_noise_sigma, (), (const, override));
  MOCK_METHOD(at::Tensor, scale_model_input, (const at::Tensor& sample, double timestep), (override));
  MOCK_METHOD(StepResult, step,
              (const at::Tensor& model_output, double timestep, const at::Tensor& sample, at::Generator* generator),
              (override));
  MOCK_METHOD(at::Tensor, add_noise, (const at::Tensor& original, const at::Tensor& noise, double timestep),
              (const, override));
  MOCK_METHOD(int, order, (), (const, override));
};

}  // namespace workers
