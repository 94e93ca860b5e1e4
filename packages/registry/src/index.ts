export {
  RegistryClient,
  RegistryError,
  expectOk,
  type Credentials,
  type RegistryOptions,
  type Response,
} from './client.js';
export { MEDIA, getManifest, pushImage, type PushImageInput, type PushedImage } from './push.js';
