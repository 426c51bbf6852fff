//! `EMBER_DISTANCE_ISA=scalar` forces the scalar kernels. A test binary of
//! its own, with a single test: the choice is made once per process, at the
//! first call, so the variable must be set before anything else runs.

#[test]
fn env_var_forces_the_scalar_level() {
    std::env::set_var("EMBER_DISTANCE_ISA", "scalar");
    assert_eq!(distance::active_isa(), "scalar");
    // The dispatched functions now agree bit for bit with the reference.
    let a: Vec<f32> = (0..100).map(|i| (i as f32).sin()).collect();
    let b: Vec<f32> = (0..100).map(|i| (i as f32).cos()).collect();
    assert_eq!(
        distance::dot(&a, &b).to_bits(),
        distance::scalar::dot(&a, &b).to_bits()
    );
    assert_eq!(
        distance::l2_squared(&a, &b).to_bits(),
        distance::scalar::l2_squared(&a, &b).to_bits()
    );
}
