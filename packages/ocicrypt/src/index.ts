export {
  CURVES,
  KeyError,
  MIN_RSA_BITS,
  keyFingerprint,
  parsePrivateKey,
  parseRecipientKey,
  pemLabels,
  type RecipientKey,
} from './keys.js';
export {
  ALG_EC,
  ALG_RSA,
  JWE_ENC,
  concatKdf,
  jweDecrypt,
  jweEncrypt,
  parseJwe,
  systemRandom,
  type JweRandom,
  type ParsedJwe,
} from './jwe.js';
export {
  ANNOTATION_JWE,
  ANNOTATION_PREFIX,
  ANNOTATION_PUBOPTS,
  LAYER_CIPHER,
  decryptedMediaType,
  encryptedMediaType,
  isEncryptedMediaType,
  parsePrivateOptions,
  parsePublicOptions,
  privateOptionsJson,
  publicOptionsJson,
  type PrivateOptions,
  type PublicOptions,
} from './options.js';
export {
  IntegrityError,
  LayerDecryptor,
  LayerEncryptor,
  decryptLayer,
  openLayer,
  type DecryptOptions,
  type EncryptedLayer,
  type OpenedLayer,
} from './layer.js';
export {
  DecryptionKeysDirError,
  decryptionKeyFiles,
  readDecryptionKeysDir,
  type DecryptionKeysDir,
} from './keys-dir.js';
export {
  REASON_KEYS_INVALID,
  REASON_KEYS_NOT_FOUND,
  REASON_KEYS_UNREADABLE,
  keysObjectData,
  keysObjectName,
  recipientsFrom,
  type KeysObjectRef,
  type Recipients,
} from './keys-object.js';
