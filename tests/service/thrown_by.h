// Test helper for the service tests: what a call threw as a workers::Error, with its code, field
// and message, so a test can check all three (and fails when nothing was thrown).
#pragma once

#include <gtest/gtest.h>

#include "utilities/error.h"

namespace workers::testing_support {

// The code, field and message of what `action` throws; fails the test when it throws nothing.
template <typename Action>
Error thrown_by(Action action) {
  try {
    action();
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "no workers::Error was thrown";
  return Error(ErrorCode::kInternalError, "nothing thrown");
}

}  // namespace workers::testing_support
