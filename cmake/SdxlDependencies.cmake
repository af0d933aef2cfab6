# Finds every third-party dependency once and wraps libtorch in one INTERFACE target (sdxl_torch)
# with the precompiled header, so torch flags never leak into torch-free targets by accident.
find_package(Threads REQUIRED)
find_package(Boost 1.71 REQUIRED)            # Asio is header-only
find_package(nlohmann_json 3.9 REQUIRED)
find_package(spdlog REQUIRED)
find_package(ICU 60 REQUIRED COMPONENTS uc i18n)  # Unicode classes for the CLIP tokenizer
find_package(OpenCV 4 REQUIRED COMPONENTS core imgproc imgcodecs photo)  # image files, resizing, denoising
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)  # PyTorch .pth archives (zip)
find_package(OpenSSL REQUIRED)               # sha256 of model files (A1111's Model hash, Lora hashes)
find_package(Torch REQUIRED)                 # Debian 1.13 (CPU) or -DCMAKE_PREFIX_PATH=<libtorch 2.x>

# libtorch sets the libstdc++ ABI (_GLIBCXX_USE_CXX11_ABI); every target exchanging std::string
# with a torch target must use the same one, so the flag is applied project-wide.
if(TORCH_CXX_FLAGS)
  separate_arguments(_sdxl_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  add_compile_options(${_sdxl_torch_flags})
endif()

add_library(sdxl_torch INTERFACE)
target_link_libraries(sdxl_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(sdxl_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
if(TORCH_CUDA_LIBRARIES)
  target_compile_definitions(sdxl_torch INTERFACE SDXL_WITH_CUDA=1)
  message(STATUS "libtorch ${Torch_VERSION}: CUDA build")
else()
  message(STATUS "libtorch ${Torch_VERSION}: CPU-only build")
endif()

add_library(sdxl_warnings INTERFACE)
target_compile_options(sdxl_warnings INTERFACE -Wall -Wextra -Wpedantic)

# One precompiled header for every torch target (reused, compiled once).
file(WRITE ${CMAKE_BINARY_DIR}/sdxl_torch_pch.cpp "// precompiled header host\n")
add_library(sdxl_torch_pch OBJECT ${CMAKE_BINARY_DIR}/sdxl_torch_pch.cpp)
target_link_libraries(sdxl_torch_pch PRIVATE sdxl_torch sdxl_warnings)
target_precompile_headers(sdxl_torch_pch PRIVATE ${CMAKE_SOURCE_DIR}/cmake/torch_pch.h)

