import CHDF5

/// An HDF5 dataset, described on open (shape, type, layout, filters) so that callers can validate
/// it before reading a byte of its data.
public final class HDF5Dataset: HDF5Object {
    public let file: String
    public let path: String
    private let handle: Handle
    public var objectID: hid_t { handle.id }

    /// The extent, outermost dimension first (empty for a scalar).
    public let shape: [Int]
    /// The stored element type.
    public let type: HDF5TypeDescription
    /// The storage layout.
    public let layout: Layout
    /// The ids of the filters in the pipeline (1 = deflate, 2 = shuffle, 3 = Fletcher32, …).
    public let filters: [Int32]

    public enum Layout: Equatable, Sendable { case contiguous, chunked, compact, other }

    init(id: hid_t, file: String, path: String) throws {
        self.handle = Handle(id, close: H5Dclose)
        self.file = file
        self.path = path
        let what = "describe dataset \(path)"
        let space = Handle.dataspace(try checkID(H5Dget_space(id), what, file: file))
        let rank = H5Sget_simple_extent_ndims(space.id)
        guard rank >= 0, rank <= 32 else { throw HDF5Error("\(what): rank \(rank)", file: file) }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if rank > 0 { try check(H5Sget_simple_extent_dims(space.id, &dims, nil), what, file: file) }
        guard dims.allSatisfy({ $0 <= hsize_t(Int.max) }) else {
            throw HDF5Error("\(what): a dimension is larger than this machine can address", file: file)
        }
        shape = dims.map { Int($0) }
        let fileType = Handle.datatype(try checkID(H5Dget_type(id), what, file: file))
        type = HDF5TypeDescription(typeID: fileType.id)
        let creation = Handle.property(try checkID(H5Dget_create_plist(id), what, file: file))
        switch H5Pget_layout(creation.id) {
        case H5D_CONTIGUOUS: layout = .contiguous
        case H5D_CHUNKED: layout = .chunked
        case H5D_COMPACT: layout = .compact
        default: layout = .other
        }
        let filterCount = max(0, H5Pget_nfilters(creation.id))
        filters = (0..<filterCount).map { index in
            var flags: UInt32 = 0
            var valueCount = 0
            var configuration: UInt32 = 0
            return H5Pget_filter2(creation.id, UInt32(index), &flags, &valueCount, nil, 0, nil, &configuration)
        }
    }

    /// The number of elements, or nil if it overflows.
    public var elementCount: Int? {
        shape.reduce(Int?(1)) { total, dim in
            guard let total else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dim)
            return overflow ? nil : product
        }
    }

    /// The file offset of the raw data of a contiguous, allocated dataset.
    public var fileOffset: UInt64? {
        let offset = H5Dget_offset(handle.id)
        return offset == chdf5_haddr_undef() ? nil : UInt64(offset)
    }

    /// The bytes the data occupies in the file (after compression).
    public var storageSize: Int { Int(H5Dget_storage_size(handle.id)) }

    /// Where each allocated chunk of a chunked dataset lies in the file: its offset and its
    /// stored (filtered, e.g. compressed) size. Empty for other layouts.
    public func chunkLocations() throws -> [(offset: UInt64, size: Int)] {
        HDF5Library.prepare()
        guard layout == .chunked else { return [] }
        let space = Handle.dataspace(try checkID(H5Dget_space(handle.id), "open the dataspace of \(path)", file: file))
        var count: hsize_t = 0
        try check(H5Dget_num_chunks(handle.id, space.id, &count), "count the chunks of \(path)", file: file)
        return try (0..<count).map { index in
            var offset: haddr_t = 0
            var size: hsize_t = 0
            var mask: UInt32 = 0
            try check(
                H5Dget_chunk_info(handle.id, space.id, index, nil, &mask, &offset, &size),
                "locate chunk \(index) of \(path)", file: file)
            return (UInt64(offset), Int(size))
        }
    }

    /// Reads all elements, unconverted, into `buffer`, whose size must be exactly
    /// `elementCount × type.size`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws {
        try transfer("read", byteCount: buffer.count) { fileType, all in
            H5Dread(handle.id, fileType, all, all, chdf5_p_default(), buffer.baseAddress)
        }
    }

    /// Writes all elements from `bytes`, already in the dataset's element type and byte order.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try transfer("write", byteCount: bytes.count) { fileType, all in
            H5Dwrite(handle.id, fileType, all, all, chdf5_p_default(), bytes.baseAddress)
        }
    }

    /// Checks that `byteCount` is exactly the dataset's size, then moves all elements in the
    /// stored type (no conversion) with `call(fileType, H5S_ALL)`.
    private func transfer(_ verb: String, byteCount: Int, _ call: (hid_t, hid_t) -> herr_t) throws {
        HDF5Library.prepare()
        let what = "\(verb) dataset \(path)"
        guard let count = elementCount, count.multipliedReportingOverflow(by: type.size) == (byteCount, false)
        else { throw HDF5Error("\(what): \(byteCount) bytes for shape \(shape) of \(type)", file: file) }
        if byteCount == 0 { return }
        let fileType = Handle.datatype(try checkID(H5Dget_type(handle.id), what, file: file))
        try check(call(fileType.id, chdf5_s_all()), what, file: file)
    }
}
