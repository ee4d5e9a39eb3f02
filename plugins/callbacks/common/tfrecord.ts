import { maskedCrc32c } from './crc32c';

/**
 * One TFRecord: uint64 length (little-endian), masked CRC-32C of those 8 bytes, the data, masked
 * CRC-32C of the data.
 */
export function tfRecord(data: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length), 0);
  head.writeUInt32LE(maskedCrc32c(head.subarray(0, 8)), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc32c(data), 0);
  return Buffer.concat([head, data, tail]);
}
