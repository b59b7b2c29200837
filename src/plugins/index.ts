// The plugins bundled with Sluice. Importing this module registers them (schemas for the config loader,
// phases for the pipeline); the CLI imports it before loading any config, and so does every worker.
import { registerPlugin } from '../pipeline/plugin.js'
import { requestTermination } from './request-termination/index.js'

registerPlugin(requestTermination)
