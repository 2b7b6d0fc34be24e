# Finds the OpenCV module packages Debian ships separately (libopencv-{core,imgproc,imgcodecs}-dev), which,
# unlike the libopencv-dev meta-package, come without OpenCVConfig.cmake. Defines OpenCV::modules.
find_path(OpenCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
foreach(module core imgproc imgcodecs)
  find_library(OpenCV_${module}_LIBRARY opencv_${module})
  list(APPEND OpenCV_MODULE_LIBRARIES ${OpenCV_${module}_LIBRARY})
endforeach()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenCVModules REQUIRED_VARS OpenCV_INCLUDE_DIR
  OpenCV_core_LIBRARY OpenCV_imgproc_LIBRARY OpenCV_imgcodecs_LIBRARY)
if(OpenCVModules_FOUND AND NOT TARGET OpenCV::modules)
  add_library(OpenCV::modules INTERFACE IMPORTED)
  set_target_properties(OpenCV::modules PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${OpenCV_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${OpenCV_MODULE_LIBRARIES}")
endif()
