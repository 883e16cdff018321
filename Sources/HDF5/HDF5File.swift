import CHDF5

/// An open HDF5 file. Closing happens when the last reference goes away, or explicitly with
/// ``close()``, which reports failures (use it after writing).
public final class HDF5File {
    /// The path the file was opened or created at.
    public let path: String
    private var handle: Handle?

    private init(path: String, id: hid_t) {
        self.path = path
        self.handle = Handle(id, close: H5Fclose)
    }

    /// Opens an existing file, read-only unless `writable`.
    public static func open(_ path: String, writable: Bool = false) throws -> HDF5File {
        HDF5Library.prepare()
        if H5Fis_hdf5(path) <= 0 {
            throw HDF5Error("open the file: it is not an HDF5 file or cannot be read", file: path)
        }
        let access = Handle.property(try checkID(H5Pcreate(chdf5_p_file_access()), "create file access properties"))
        let id = H5Fopen(path, writable ? chdf5_acc_rdwr() : chdf5_acc_rdonly(), access.id)
        return HDF5File(path: path, id: try checkID(id, "open the file", file: path))
    }

    /// Opens a file held in memory (for example an entry of a zip archive), read-only; `name`
    /// appears in error messages.
    public static func open(image: [UInt8], name: String) throws -> HDF5File {
        HDF5Library.prepare()
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        guard image.starts(with: signature) else {
            throw HDF5Error("open the file: it is not an HDF5 file", file: name)
        }
        let access = Handle.property(try checkID(H5Pcreate(chdf5_p_file_access()), "create file access properties"))
        try check(H5Pset_fapl_core(access.id, 1 << 16, false), "use the in-memory driver", file: name)
        try image.withUnsafeBytes { bytes in
            try check(
                H5Pset_file_image(access.id, UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count),
                "load the file image", file: name)
        }
        let id = H5Fopen(name, chdf5_acc_rdonly(), access.id)
        return HDF5File(path: name, id: try checkID(id, "open the file", file: name))
    }

    /// Creates a new file; fails if one exists at `path`. Objects use the HDF5 1.8 file format,
    /// which every HDF5 from 1.8 on reads, and which stores attributes of any size.
    public static func create(_ path: String) throws -> HDF5File {
        HDF5Library.prepare()
        let access = Handle.property(try checkID(H5Pcreate(chdf5_p_file_access()), "create file access properties"))
        try check(H5Pset_libver_bounds(access.id, H5F_LIBVER_V18, H5F_LIBVER_V18), "set the file format version")
        // Closing must fail loudly if an object is still open rather than leave data unwritten.
        try check(H5Pset_fclose_degree(access.id, H5F_CLOSE_SEMI), "set the close policy")
        // The root group keeps no modification time either (see HDF5Group.createGroup).
        let creation = Handle.property(try checkID(H5Pcreate(chdf5_p_file_create()), "create file properties"))
        try check(H5Pset_obj_track_times(creation.id, false), "turn off the root group's times")
        let id = H5Fcreate(path, chdf5_acc_excl(), creation.id, access.id)
        return HDF5File(path: path, id: try checkID(id, "create the file", file: path))
    }

    /// Creates a new file, lets `contents` fill its root group, then flushes and closes it,
    /// reporting any failure. Objects made inside `contents` must not escape it.
    public static func create(_ path: String, contents: (HDF5Group) throws -> Void) throws {
        let file = try create(path)
        try contents(try file.root())
        try file.close()
    }

    /// The size of the user block before the HDF5 data (0 for most files). Dataset addresses
    /// (``HDF5Dataset/fileOffset``) count from its end.
    public func userBlockSize() throws -> Int {
        let properties = Handle.property(
            try checkID(H5Fget_create_plist(try fileID()), "read the file's creation properties"))
        var size: hsize_t = 0
        try check(H5Pget_userblock(properties.id, &size), "read the user block size", file: path)
        return Int(size)
    }

    /// The root group `/`.
    public func root() throws -> HDF5Group {
        try HDF5Group.open(in: try fileID(), name: "/", file: path, displayPath: "/")
    }

    /// Flushes and closes the file, reporting any failure. Later use of the file throws.
    public func close() throws {
        guard let handle else { return }
        HDF5Library.prepare()
        try check(H5Fflush(handle.id, H5F_SCOPE_GLOBAL), "flush the file", file: path)
        self.handle = nil
        if handle.close() < 0 { throw HDF5Error.fromStack("close the file", file: path) }
    }

    private func fileID() throws -> hid_t {
        guard let handle else { throw HDF5Error("use the file after it was closed", file: path) }
        return handle.id
    }

    /// The paths of the files HDF5 holds open in this process. A file stays open while any of
    /// its groups, datasets or attributes is, so a path missing here proves nothing of it leaked.
    public static func openFilePaths() -> [String] {
        HDF5Library.prepare()
        let all = hid_t(chdf5_obj_all())
        let count = H5Fget_obj_count(all, UInt32(H5F_OBJ_FILE))
        guard count > 0 else { return [] }
        var ids = [hid_t](repeating: 0, count: count)
        let found = H5Fget_obj_ids(all, UInt32(H5F_OBJ_FILE), count, &ids)
        return ids.prefix(max(0, found)).compactMap { id in
            try? readName({ H5Fget_name(id, $0, $1) }, orThrow: { HDF5Error("read a file name") })
        }
    }
}
