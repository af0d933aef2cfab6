#include "compat/enhanced_sdxl_format.h"
#include "compat/envelope_format.h"
#include "compat/flat_seed_format.h"
#include "compat/request_translator.h"

namespace workers::compat {

std::vector<std::shared_ptr<const RequestTranslator>> default_translators() {
  return {
      std::make_shared<EnhancedSdxlFormat>(),
      std::make_shared<EnvelopeFormat>(),
      std::make_shared<FlatSeedFormat>(),
  };
}

}  // namespace workers::compat
