/** Scale-out: desired streams in a JetStream KV bucket, shared among analyzer replicas by leases. */
export {
  ClusterCoordinator,
  defaultReplicaId,
  DEFAULT_CLUSTER_BUCKET,
  DEFAULT_LEASE_MS,
  type CoordinatorOptions,
  type CoordinatorStatus,
  type HostedStream,
  type ReleaseReason,
  type StreamHost,
} from './coordinator.js';
export {
  DesiredStreams,
  DEFAULT_DESIRED_BUCKET,
  openDesiredBucket,
  parseDefinition,
  type StreamDefinition,
} from './desired.js';
export { fairShare, planRound, preferenceRank, rendezvousScore, type Plan, type PlanInput } from './plan.js';
