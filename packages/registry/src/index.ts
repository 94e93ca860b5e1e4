export {
  REGISTRY_TIMEOUTS,
  RegistryClient,
  RegistryError,
  expectOk,
  type Credentials,
  type RegistryOptions,
  type RegistryTimeouts,
  type Response,
} from './client.js';
export {
  MEDIA,
  describeImage,
  getManifest,
  imageManifest,
  pushImage,
  type PushImageInput,
  type PushedImage,
} from './push.js';
export { deleteManifest, describeTag, imageDiffIds, listTags, type TaggedImage } from './manage.js';
export { credentialsMayGo, mayFollow, normalHost, type Verdict } from './origin.js';
