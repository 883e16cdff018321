import CHDF5

/// Owns one HDF5 identifier and closes it exactly once: explicitly, or when the last reference goes.
final class Handle {
    let id: hid_t
    private let closer: (hid_t) -> herr_t
    private var isOpen = true

    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.closer = close
    }

    /// Closes the id now; later calls do nothing. Returns HDF5's status.
    func close() -> herr_t {
        guard isOpen else { return 0 }
        isOpen = false
        return closer(id)
    }

    deinit { _ = close() }

    static func property(_ id: hid_t) -> Handle { Handle(id, close: H5Pclose) }
    static func dataspace(_ id: hid_t) -> Handle { Handle(id, close: H5Sclose) }
    static func datatype(_ id: hid_t) -> Handle { Handle(id, close: H5Tclose) }
    static func attribute(_ id: hid_t) -> Handle { Handle(id, close: H5Aclose) }
}
