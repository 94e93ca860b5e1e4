import { API_GROUP, PLURAL, RESTORE_PLURAL } from '@stateful-migration/api';

// Where the restore controller reads and writes, on the Karmada apiserver (and through its cluster proxy).

export const GROUP_PATH = `/apis/${API_GROUP}/v1`;
export const restorePath = (ns: string, name: string): string =>
  `${GROUP_PATH}/namespaces/${ns}/${RESTORE_PLURAL}/${name}`;
export const restoresPath = (ns: string): string => `${GROUP_PATH}/namespaces/${ns}/${RESTORE_PLURAL}`;
export const backupPath = (ns: string, name: string): string =>
  `${GROUP_PATH}/namespaces/${ns}/${PLURAL}/${name}`;
export const bindingPath = (ns: string, name: string): string =>
  `/apis/work.karmada.io/v1alpha2/namespaces/${ns}/resourcebindings/${name}`;
export const policyPath = (ns: string, name = ''): string =>
  `/apis/policy.karmada.io/v1alpha1/namespaces/${ns}/propagationpolicies${name ? `/${name}` : ''}`;
export const podPath = (ns: string, name = ''): string =>
  `/api/v1/namespaces/${ns}/pods${name ? `/${name}` : ''}`;
export const secretPath = (ns: string, name = ''): string =>
  `/api/v1/namespaces/${ns}/secrets${name ? `/${name}` : ''}`;
export const configMapPath = (ns: string, name: string): string =>
  `/api/v1/namespaces/${ns}/configmaps/${name}`;
export const CLUSTERS_PATH = '/apis/cluster.karmada.io/v1alpha1/clusters';
/** A member's API through Karmada's cluster proxy. */
export const proxy = (cluster: string, path: string): string => `${CLUSTERS_PATH}/${cluster}/proxy${path}`;
export const workloadPath = (ns: string, kind: string, name: string): string =>
  `/apis/apps/v1/namespaces/${ns}/${kind.toLowerCase()}s/${name}`;
