import CHDF5

/// An HDF5 group: named children (groups and datasets) and attributes.
public final class HDF5Group: HDF5Object {
    public let file: String
    public let path: String
    private let handle: Handle
    public var objectID: hid_t { handle.id }

    /// What a child link points to.
    public enum ChildKind: Equatable, Sendable { case group, dataset, other }

    init(id: hid_t, file: String, path: String) {
        self.handle = Handle(id, close: H5Gclose)
        self.file = file
        self.path = path
    }

    static func open(in location: hid_t, name: String, file: String, displayPath: String) throws -> HDF5Group {
        HDF5Library.prepare()
        let id = H5Gopen2(location, name, chdf5_p_default())
        return HDF5Group(id: try checkID(id, "open group \(displayPath)", file: file), file: file, path: displayPath)
    }

    /// Whether a direct child of this name exists.
    public func contains(_ name: String) throws -> Bool {
        HDF5Library.prepare()
        let result = H5Lexists(handle.id, name, chdf5_p_default())
        if result < 0 { throw HDF5Error.fromStack("look up \(childPath(name))", file: file) }
        return result > 0
    }

    /// The names of the direct children, in name order.
    public func childNames() throws -> [String] {
        HDF5Library.prepare()
        var info = H5G_info_t()
        try check(H5Gget_info(handle.id, &info), "list group \(path)", file: file)
        return try (0..<info.nlinks).map { index in
            try readName { buffer, capacity in
                H5Lget_name_by_idx(
                    handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, buffer, capacity,
                    chdf5_p_default())
            } orThrow: {
                HDF5Error.fromStack("list group \(path)", file: file)
            }
        }
    }

    /// A direct child, opened once: a group, a dataset (described), or neither.
    public enum Child {
        case group(HDF5Group)
        case dataset(HDF5Dataset)
        /// A soft or external link (never followed), or an object that is neither.
        case other
    }

    /// Opens a direct child, whichever kind it is, with one lookup.
    public func child(_ name: String) throws -> Child {
        HDF5Library.prepare()
        let hard = chdf5_is_hard_link(handle.id, name)
        if hard < 0 { throw HDF5Error.fromStack("look up \(childPath(name))", file: file) }
        guard hard == 1 else { return .other }
        let what = "open \(childPath(name))"
        let id = try checkID(H5Oopen(handle.id, name, chdf5_p_default()), what, file: file)
        // The object's id is a group's or a dataset's id, which those types take and close.
        switch H5Iget_type(id) {
        case H5I_GROUP: return .group(HDF5Group(id: id, file: file, path: childPath(name)))
        case H5I_DATASET: return .dataset(try HDF5Dataset(id: id, file: file, path: childPath(name)))
        default:
            H5Oclose(id)
            return .other
        }
    }

    /// What a direct child is. Soft and external links count as `.other` and are never followed.
    public func kind(of name: String) throws -> ChildKind {
        switch try child(name) {
        case .group: .group
        case .dataset: .dataset
        case .other: .other
        }
    }

    /// Opens a child group.
    public func group(_ name: String) throws -> HDF5Group {
        try HDF5Group.open(in: handle.id, name: name, file: file, displayPath: childPath(name))
    }

    /// Creates a child group; a name with slashes creates the groups between as needed.
    public func createGroup(_ name: String) throws -> HDF5Group {
        HDF5Library.prepare()
        try createParents(of: name)
        let id = try newGroup(name)
        return HDF5Group(
            id: id, file: file,
            path: childPath(name))
    }

    /// Opens a child dataset.
    public func dataset(_ name: String) throws -> HDF5Dataset {
        HDF5Library.prepare()
        let id = H5Dopen2(handle.id, name, chdf5_p_default())
        return try HDF5Dataset(
            id: try checkID(id, "open dataset \(childPath(name))", file: file), file: file,
            path: childPath(name))
    }

    /// Creates a dataset of the given element type and shape; a name with slashes creates the
    /// groups between as needed. Nothing is written until ``HDF5Dataset/write(_:)``.
    public func createDataset(
        _ name: String, type: HDF5ElementType, shape: [Int], storage: HDF5Storage = .contiguous
    ) throws -> HDF5Dataset {
        HDF5Library.prepare()
        let what = "create dataset \(childPath(name))"
        let dims = shape.map { hsize_t($0) }
        let space = Handle.dataspace(try checkID(H5Screate_simple(Int32(dims.count), dims, nil), what, file: file))
        let fileType = try type.makeFileType()
        let creation = Handle.property(try checkID(H5Pcreate(chdf5_p_dataset_create()), what, file: file))
        // Never record modification times, so that equal content gives equal files.
        try check(H5Pset_obj_track_times(creation.id, false), what, file: file)
        if case .chunked(let chunk, let gzipLevel) = storage {
            try check(H5Pset_chunk(creation.id, Int32(chunk.count), chunk.map { hsize_t($0) }), what, file: file)
            try check(H5Pset_shuffle(creation.id), what, file: file)
            try check(H5Pset_deflate(creation.id, UInt32(gzipLevel)), what, file: file)
        }
        try createParents(of: name)
        let id = H5Dcreate2(handle.id, name, fileType.id, space.id, chdf5_p_default(), creation.id, chdf5_p_default())
        return try HDF5Dataset(id: try checkID(id, what, file: file), file: file, path: childPath(name))
    }

    /// Creates the groups on the way to `name` that do not exist yet. HDF5's own intermediate
    /// groups would record modification times; these, like every object here, record none, so
    /// that equal content gives byte-identical files.
    private func createParents(of name: String) throws {
        var path = ""
        for component in name.split(separator: "/").dropLast() {
            path += (path.isEmpty ? "" : "/") + component
            if try !contains(path) { _ = H5Gclose(try newGroup(path)) }
        }
    }

    /// A new group without modification times; the caller owns the identifier.
    private func newGroup(_ name: String) throws -> hid_t {
        let what = "create group \(childPath(name))"
        let creation = Handle.property(try checkID(H5Pcreate(chdf5_p_group_create()), what, file: file))
        try check(H5Pset_obj_track_times(creation.id, false), what, file: file)
        return try checkID(
            H5Gcreate2(handle.id, name, chdf5_p_default(), creation.id, chdf5_p_default()), what, file: file)
    }

    private func childPath(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }
}

/// How a dataset's data is laid out in the file.
public enum HDF5Storage: Equatable, Sendable {
    /// One block at a known file offset: the fastest to read.
    case contiguous
    /// Chunks of the given shape, byte-shuffled and gzip-compressed at `gzipLevel` (1-9).
    case chunked(chunk: [Int], gzipLevel: Int)
}
