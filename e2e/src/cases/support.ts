/** Test helpers shared by the e2e cases. */
export { eventually, unique } from '@stateful-migration/kube/testing';
