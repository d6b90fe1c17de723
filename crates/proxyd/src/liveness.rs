//! proxyd's side of the liveness contract with vrrpd (`lbcore::liveness`).
