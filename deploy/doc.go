// Package deploy holds what deploys the services of examples/ to the
// cluster: Dockerfile (one image per service: a static binary on a
// distroless base, non-root) and k8s/ (the cluster's manifests, in the
// shape of the course's infra/k8s: the same names, variables and
// secrets, with probes on /healthz and /readyz, and a MongoDB for the
// expiration service where Node had Redis). Its test checks that each
// manifest sets what its service needs and nothing it doesn't read. It
// has no code.
package deploy
