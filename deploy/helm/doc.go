// Package helm holds the tests of Tributary's Helm chart (./tributary): it renders the chart
// with the Helm Go library, as `helm template` does, and validates every manifest against the
// Kubernetes API's own OpenAPI schemas. It is a module of its own so that Helm's and
// Kubernetes' dependencies stay out of Tributary's binaries and go.mod.
package helm
