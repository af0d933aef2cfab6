#include "utilities/job_context.h"

namespace workers {

bool CancellationToken::cancel(ErrorCode reason) {
  int expected = kNone;
  return reason_.compare_exchange_strong(expected, static_cast<int>(reason));
}

ErrorCode CancellationToken::reason() const {
  int value = reason_.load();
  return value == kNone ? ErrorCode::kInternalError : static_cast<ErrorCode>(value);
}

void CancellationToken::throw_if_cancelled() const {
  if (!cancelled()) return;
  ErrorCode why = reason();
  throw Error(why, why == ErrorCode::kTimeoutError ? "the job ran past its timeout"
                                                   : "the job was cancelled");
}

}  // namespace workers
