// Test helper: run a call that must throw workers::Error and look at what it threw.
#pragma once

#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "utilities/error.h"

namespace workers::testing_support {

struct Caught {
  ErrorCode code = ErrorCode::kInternalError;
  std::string message;
  std::string field;
};

// Fails the current test when `f` returns normally.
inline Caught catch_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.code(), e.what(), e.field()};
  }
  ADD_FAILURE() << "expected a workers::Error, nothing was thrown";
  return {};
}

}  // namespace workers::testing_support
