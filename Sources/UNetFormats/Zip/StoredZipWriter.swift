import Foundation
import UNetCheckpoint

/// Writes a zip archive whose entries are stored (not compressed), with each entry's data
/// aligned to 64 bytes as `torch.save` does, and fixed timestamps so equal content gives equal
/// files. Archives larger than 4 GiB are refused (no zip64).
package struct StoredZipWriter {
    private struct Record {
        let name: [UInt8]
        let crc: UInt32
        let size: UInt32
        let headerOffset: UInt32
    }

    private let output: OutputFile
    private var records: [Record] = []
    private var offset = 0
    static let alignment = 64

    package init(output: OutputFile) { self.output = output }

    /// Appends one entry.
    package mutating func add(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        let nameBytes = Array(name.utf8)
        let headerSize = 30 + nameBytes.count
        // An extra field ("FB" + length + zeros) pads the header so the data starts aligned.
        let padding = (Self.alignment - (offset + headerSize + 4) % Self.alignment) % Self.alignment
        let extraLength = 4 + padding
        guard offset + headerSize + extraLength + bytes.count < Int(UInt32.max) else {
            throw FormatError(.unsupported, file: nil, "the archive would exceed 4 GiB (zip64 is not written)")
        }
        let crc = CRC32.checksum(bytes)
        var header = Data()
        header.appendLE(UInt32(0x0403_4B50))
        header.appendLE(UInt16(20))  // version needed
        header.appendLE(UInt16(0))  // flags
        header.appendLE(UInt16(0))  // stored
        header.appendLE(UInt16(0))  // time
        header.appendLE(UInt16(0x21))  // date: 1980-01-01
        header.appendLE(crc)
        header.appendLE(UInt32(bytes.count))
        header.appendLE(UInt32(bytes.count))
        header.appendLE(UInt16(nameBytes.count))
        header.appendLE(UInt16(extraLength))
        header.append(contentsOf: nameBytes)
        header.appendLE(UInt16(0x4246))  // "FB"
        header.appendLE(UInt16(padding))
        header.append(Data(count: padding))
        try output.append(header)
        try output.append(Data(bytes))
        records.append(Record(name: nameBytes, crc: crc, size: UInt32(bytes.count), headerOffset: UInt32(offset)))
        offset += header.count + bytes.count
    }

    package mutating func add(_ name: String, text: String) throws {
        try Array(text.utf8).withUnsafeBytes { try add(name, bytes: $0) }
    }

    /// Writes the central directory and the end record.
    package mutating func finish() throws {
        var directory = Data()
        for record in records {
            directory.appendLE(UInt32(0x0201_4B50))
            directory.appendLE(UInt16(20))  // version made by
            directory.appendLE(UInt16(20))  // version needed
            directory.appendLE(UInt16(0))
            directory.appendLE(UInt16(0))
            directory.appendLE(UInt16(0))
            directory.appendLE(UInt16(0x21))
            directory.appendLE(record.crc)
            directory.appendLE(record.size)
            directory.appendLE(record.size)
            directory.appendLE(UInt16(record.name.count))
            directory.appendLE(UInt16(0))  // extra
            directory.appendLE(UInt16(0))  // comment
            directory.appendLE(UInt16(0))  // disk
            directory.appendLE(UInt16(0))  // internal attributes
            directory.appendLE(UInt32(0))  // external attributes
            directory.appendLE(record.headerOffset)
            directory.append(contentsOf: record.name)
        }
        guard records.count < Int(UInt16.max), offset + directory.count < Int(UInt32.max) else {
            throw FormatError(.unsupported, file: nil, "the archive would need zip64")
        }
        var end = Data()
        end.appendLE(UInt32(0x0605_4B50))
        end.appendLE(UInt16(0))
        end.appendLE(UInt16(0))
        end.appendLE(UInt16(records.count))
        end.appendLE(UInt16(records.count))
        end.appendLE(UInt32(directory.count))
        end.appendLE(UInt32(offset))
        end.appendLE(UInt16(0))
        try output.append(directory)
        try output.append(end)
    }
}

extension Data {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
