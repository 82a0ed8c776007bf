//! Offline checks of `deploy/`: the Kubernetes manifests are rendered as kustomize would,
//! validated against the pinned schemas in `deploy/k8s/schemas/`, and searched for
//! dangling references. The checks are this crate's tests (`tests/k8s/`); the library
//! is empty so that nothing else ever compiles them.
