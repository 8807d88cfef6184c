#===- CUDA.cmake - the runtime's CUDA layer and embedded GEMV kernels ------===#
#
# Included by lib/Runtime/CMakeLists.txt. CUDA/*.cpp load the driver with
# dlopen, so the runtime links nothing of CUDA. When nvcc is found (CMake's
# CUDAToolkit, or /usr/local/cuda/bin/nvcc), GPUKernels/*.cu are compiled to
# PTX for QOPT_CUDA_ARCHS and embedded through a generated source file in
# the build directory; without nvcc the table of PTX is empty and the GEMV
# entry points report that the runtime was built without its kernels.
#
#===------------------------------------------------------------------------===#
set(QOPT_CUDA_ARCHS "sm_80;sm_89;sm_90" CACHE STRING
  "GPU architectures whose PTX the runtime embeds")
option(QOPT_ENABLE_CUDA_KERNELS "Build the runtime's GPU kernels with nvcc" ON)

target_sources(QOptRuntime PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/Driver.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/MgpuWrappers.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/ConstantCache.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/Gemv.cpp)

set(QOPT_NVCC "")
if(QOPT_ENABLE_CUDA_KERNELS)
  find_package(CUDAToolkit QUIET)
  if(CUDAToolkit_NVCC_EXECUTABLE AND EXISTS "${CUDAToolkit_NVCC_EXECUTABLE}")
    set(QOPT_NVCC "${CUDAToolkit_NVCC_EXECUTABLE}")
  else()
    find_program(QOPT_NVCC_PROGRAM nvcc
      HINTS ENV CUDA_HOME ENV CUDA_PATH PATH_SUFFIXES bin
      PATHS /usr/local/cuda/bin)
    if(QOPT_NVCC_PROGRAM)
      set(QOPT_NVCC "${QOPT_NVCC_PROGRAM}")
    endif()
  endif()
endif()

set(qopt_gpu_dir "${CMAKE_CURRENT_BINARY_DIR}/GPUKernels")
set(qopt_gpu_embedded "${qopt_gpu_dir}/GemvPTX.cpp")
set(qopt_gpu_sources "${CMAKE_CURRENT_SOURCE_DIR}/GPUKernels/Gemv.cu")
set(qopt_embed_script "${CMAKE_CURRENT_SOURCE_DIR}/GPUKernels/EmbedPTX.cmake")
file(MAKE_DIRECTORY "${qopt_gpu_dir}")

if(QOPT_NVCC)
  message(STATUS "GPU kernels: PTX for ${QOPT_CUDA_ARCHS} with ${QOPT_NVCC}")
  set(ptx_files "")
  set(ptx_inputs "")
  foreach(arch IN LISTS QOPT_CUDA_ARCHS)
    string(REPLACE "sm_" "compute_" virtual "${arch}")
    set(ptx "${qopt_gpu_dir}/gemv.${arch}.ptx")
    add_custom_command(OUTPUT "${ptx}"
      COMMAND "${QOPT_NVCC}" -ptx -arch=${virtual} -O3 -std=c++17
              -o "${ptx}" ${qopt_gpu_sources}
      DEPENDS ${qopt_gpu_sources}
      COMMENT "nvcc: GEMV kernels to PTX for ${arch}"
      VERBATIM)
    list(APPEND ptx_files "${ptx}")
    list(APPEND ptx_inputs "${arch}=${ptx}")
  endforeach()
  string(REPLACE ";" "," ptx_inputs_arg "${ptx_inputs}")
  add_custom_command(OUTPUT "${qopt_gpu_embedded}"
    COMMAND "${CMAKE_COMMAND}" "-DOUTPUT=${qopt_gpu_embedded}"
            "-DINPUTS=${ptx_inputs_arg}" -P "${qopt_embed_script}"
    DEPENDS ${ptx_files} "${qopt_embed_script}"
    COMMENT "Embedding the GEMV kernels' PTX"
    VERBATIM)
else()
  message(STATUS "GPU kernels: nvcc not found, the runtime embeds no PTX")
  execute_process(COMMAND "${CMAKE_COMMAND}" "-DOUTPUT=${qopt_gpu_embedded}"
                  "-DINPUTS=" -P "${qopt_embed_script}")
endif()
target_sources(QOptRuntime PRIVATE "${qopt_gpu_embedded}")
