// The plugins bundled with Sluice. Importing this module registers them (schemas for the config loader,
// phases for the pipeline); the CLI imports it before loading any config, and so does every worker.
import { registerPlugin } from '../pipeline/plugin.js'
import { basicAuth } from './basic-auth/index.js'
import { jwt } from './jwt/index.js'
import { keyAuth } from './key-auth/index.js'
import { rateLimiting } from './rate-limiting/index.js'
import { requestTermination } from './request-termination/index.js'
import { usagePlans } from './usage-plans/index.js'

registerPlugin(requestTermination)
registerPlugin(jwt)
registerPlugin(keyAuth)
registerPlugin(basicAuth)
registerPlugin(rateLimiting)
registerPlugin(usagePlans)
