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
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/Gemv.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/QMatmul.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/FloatMatmul.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/Wgmma.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/Sparse24.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/Profile.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/CUDA/DeviceRun.cpp)

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
set(qopt_embed_script "${CMAKE_CURRENT_SOURCE_DIR}/GPUKernels/EmbedPTX.cmake")
file(MAKE_DIRECTORY "${qopt_gpu_dir}")

# GPUKernels/<source>.cu to PTX for each of QOPT_CUDA_ARCHS (or the
# architectures given after `table`), embedded as the table `table` in
# <build>/.../GPUKernels/<embedded>.
function(qopt_embed_gpu_kernels source stem embedded table)
  set(cu "${CMAKE_CURRENT_SOURCE_DIR}/GPUKernels/${source}")
  set(out "${qopt_gpu_dir}/${embedded}")
  set(archs ${QOPT_CUDA_ARCHS})
  if(ARGN)
    set(archs ${ARGN})
  endif()
  if(QOPT_NVCC)
    set(ptx_files "")
    set(ptx_inputs "")
    foreach(arch IN LISTS archs)
      string(REPLACE "sm_" "compute_" virtual "${arch}")
      set(ptx "${qopt_gpu_dir}/${stem}.${arch}.ptx")
      add_custom_command(OUTPUT "${ptx}"
        COMMAND "${QOPT_NVCC}" -ptx -arch=${virtual} -O3 -std=c++17
                -o "${ptx}" "${cu}"
        DEPENDS "${cu}"
        COMMENT "nvcc: ${source} to PTX for ${arch}"
        VERBATIM)
      list(APPEND ptx_files "${ptx}")
      list(APPEND ptx_inputs "${arch}=${ptx}")
    endforeach()
    string(REPLACE ";" "," ptx_inputs_arg "${ptx_inputs}")
    add_custom_command(OUTPUT "${out}"
      COMMAND "${CMAKE_COMMAND}" "-DOUTPUT=${out}" "-DNAME=${table}"
              "-DINPUTS=${ptx_inputs_arg}" -P "${qopt_embed_script}"
      DEPENDS ${ptx_files} "${qopt_embed_script}"
      COMMENT "Embedding the PTX of ${source}"
      VERBATIM)
  else()
    execute_process(COMMAND "${CMAKE_COMMAND}" "-DOUTPUT=${out}"
                    "-DNAME=${table}" "-DINPUTS=" -P "${qopt_embed_script}")
  endif()
  target_sources(QOptRuntime PRIVATE "${out}")
endfunction()

if(QOPT_NVCC)
  message(STATUS "GPU kernels: PTX for ${QOPT_CUDA_ARCHS} with ${QOPT_NVCC}")
else()
  message(STATUS "GPU kernels: nvcc not found, the runtime embeds no PTX")
endif()
qopt_embed_gpu_kernels(Gemv.cu gemv GemvPTX.cpp kGemvPTX)
qopt_embed_gpu_kernels(QMatmul.cu qmatmul QMatmulPTX.cpp kQMatmulPTX)
qopt_embed_gpu_kernels(FloatMatmul.cu fmatmul FloatMatmulPTX.cpp kFloatMatmulPTX)
qopt_embed_gpu_kernels(Sparse24.cu sparse24 Sparse24PTX.cpp kSparse24PTX)
# Wgmma.cu: the TMA + wgmma kernels need the arch-specific sm_90a PTX (it
# runs on compute capability 9.0 only); the other architectures' PTX holds
# its 16-bit fallback kernels.
set(qopt_wgmma_archs ${QOPT_CUDA_ARCHS})
list(TRANSFORM qopt_wgmma_archs REPLACE "^sm_90$" "sm_90a")
qopt_embed_gpu_kernels(Wgmma.cu wgmma WgmmaPTX.cpp kWgmmaPTX ${qopt_wgmma_archs})
