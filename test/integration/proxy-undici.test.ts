// The same end-to-end proxy tests with undici carrying the upstream requests (`upstream_client: undici`,
// the alternative to Sluice's own HTTP/1.1 client, which is the default and runs in proxy.test.ts).
// Each test file runs in its own process, so setting the variable before the import reaches every
// gateway that file starts.
process.env.SLUICE_UPSTREAM_CLIENT = 'undici'
await import('./proxy.test.js')
