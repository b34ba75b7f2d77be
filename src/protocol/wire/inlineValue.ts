import { addExtension } from 'msgpackr';

/**
 * A stored value in an outgoing message: encoded by writing its MessagePack bytes (held as a latin1
 * string, see storedValue.ts) into the frame as they are, so the receiver decodes the value itself
 * with the message (no bytes field, no second decode, no copy). Importing this module registers the
 * encoder with msgpackr; every encoder of frames imports it.
 */
export class InlineValue {
  constructor(readonly value: string) {}
}

// Never on the wire (the bytes are written inline); the type only keys the encoder's lookup.
const INLINE_VALUE_EXTENSION_TYPE = 0x7f;

/** The (instance, allocateForWrite) form of an extension's pack, which msgpackr's typings leave out. */
interface InPlaceExtension {
  Class: typeof InlineValue;
  type: number;
  pack(
    instance: InlineValue,
    allocateForWrite: (size: number) => { target: Buffer; position: number },
  ): undefined;
  unpack(bytes: Uint8Array): Uint8Array;
}

const extension: InPlaceExtension = {
  Class: InlineValue,
  type: INLINE_VALUE_EXTENSION_TYPE,
  pack(instance, allocateForWrite) {
    const { target, position } = allocateForWrite(instance.value.length);
    target.write(instance.value, position, instance.value.length, 'latin1');
    return undefined;
  },
  unpack: (bytes) => bytes,
};

addExtension(extension as unknown as Parameters<typeof addExtension>[0]);
