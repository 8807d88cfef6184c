// RUN: quant-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{weight_scheme granularity must be per_channel, per_tensor or block, not auto}}
func.func @f() attributes {s = #qopt.weight_scheme<granularity = auto, symmetry = symmetric, sqnr_db = 1.0, alternative_sqnr_db = 0.0>} { return }

// -----

// expected-error @+1 {{weight_scheme symmetry must be symmetric or asymmetric, not auto}}
func.func @f() attributes {s = #qopt.weight_scheme<granularity = block, symmetry = auto, sqnr_db = 1.0, alternative_sqnr_db = 0.0>} { return }

// -----

// expected-error @+1 {{weight_scheme: asymmetric weights are block-wise uint4 (int8 weights are symmetric), got granularity per_tensor}}
func.func @f() attributes {s = #qopt.weight_scheme<granularity = per_tensor, symmetry = asymmetric, sqnr_db = 1.0, alternative_sqnr_db = 0.0>} { return }

// -----

// The valid forms round-trip.
func.func @f() attributes {s = #qopt.weight_scheme<granularity = block, symmetry = asymmetric, sqnr_db = 33.5, alternative_sqnr_db = 28.0>, t = #qopt.weight_scheme<granularity = per_tensor, symmetry = symmetric, sqnr_db = 40.0, alternative_sqnr_db = 39.0>} { return }
