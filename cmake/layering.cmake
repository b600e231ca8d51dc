# Layering as a build fact. A target's layer is the top-level folder that
# defines it; kvmlet_check_layering() fails the configure step when a target
# links a library from a layer it may not use. tests/layering checks the
# #include edges the same way, so neither the link graph nor the headers can
# point upward:
#
#   lib -> memory -> devices -> vmm        (each may use those to its left)
#   agent, controller -> lib, proto        (never the VMM's internals)
#
# Folders not listed here (tests/, bench/, the top level) may link anything.
set(KVMLET_LAYER_USES_lib "")
set(KVMLET_LAYER_USES_memory lib)
set(KVMLET_LAYER_USES_devices lib memory)
set(KVMLET_LAYER_USES_vmm lib memory devices)
set(KVMLET_LAYER_USES_jailer lib)
set(KVMLET_LAYER_USES_guest_agent lib)
set(KVMLET_LAYER_USES_agent lib proto)
set(KVMLET_LAYER_USES_controller lib proto)
set(KVMLET_LAYER_USES_proto "")
set(KVMLET_LAYER_USES_firmware "")

function(kvmlet_layer_of target out)
	get_target_property(dir ${target} SOURCE_DIR)
	file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${dir})
	string(REGEX REPLACE "/.*" "" layer "${rel}")
	string(REPLACE "-" "_" layer "${layer}")
	set(${out} "${layer}" PARENT_SCOPE)
endfunction()

function(kvmlet_targets_in dir out)
	get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
	get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
	foreach(sub IN LISTS subdirs)
		kvmlet_targets_in(${sub} more)
		list(APPEND targets ${more})
	endforeach()
	set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(kvmlet_check_layering)
	kvmlet_targets_in(${CMAKE_SOURCE_DIR} targets)
	foreach(t IN LISTS targets)
		kvmlet_layer_of(${t} layer)
		if(NOT DEFINED KVMLET_LAYER_USES_${layer})
			continue()
		endif()
		get_target_property(type ${t} TYPE)
		set(libs "")
		if(NOT type STREQUAL "INTERFACE_LIBRARY")
			get_target_property(libs ${t} LINK_LIBRARIES)
		endif()
		get_target_property(ilibs ${t} INTERFACE_LINK_LIBRARIES)
		foreach(l IN LISTS libs ilibs)
			if(NOT TARGET "${l}")
				continue()
			endif()
			get_target_property(imported ${l} IMPORTED)
			if(imported)
				continue()
			endif()
			kvmlet_layer_of(${l} to)
			if(NOT to STREQUAL layer AND NOT to STREQUAL ""
			   AND NOT to IN_LIST KVMLET_LAYER_USES_${layer})
				message(FATAL_ERROR "layering: ${t} (${layer}) links ${l} (${to}); "
					"${layer} may use only: ${KVMLET_LAYER_USES_${layer}}")
			endif()
		endforeach()
	endforeach()
endfunction()
