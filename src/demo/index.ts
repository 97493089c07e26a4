export { startDemoUpstream, type DemoUpstream } from './demo-upstream.ts'
export { demoConfig } from './demo-config.ts'
