import Foundation

/// The Python peers (peers.py beside this file): h5py, torch and onnxruntime doing the same work.
struct Peers {
    let python: String
    let script: String
    private(set) var versions: [String: String]

    /// Finds the interpreter and checks that it has what the peers need.
    init(python: String, script: String) throws {
        self.python = python
        self.script = script
        versions = [:]
        let found = try call(["versions"])
        var versions: [String: String] = [:]
        for (name, value) in found { if let text = value as? String { versions[name] = text } }
        for required in ["numpy", "h5py", "torch"] where versions[required] == nil {
            throw BenchmarkError("\(python) has no \(required): install Sources/unet-ckpt-bench/requirements.txt")
        }
        self.versions = versions
    }

    /// Runs one peers.py command and decodes the JSON it prints.
    @discardableResult
    func call(_ arguments: [String]) throws -> [String: Any] {
        let result = try runProcess(python, [script] + arguments)
        guard result.status == 0 else {
            throw BenchmarkError(
                "peers.py \(arguments.first ?? "") failed (exit \(result.status)):\n\(result.standardError.suffix(2000))"
            )
        }
        guard let line = result.standardOutput.split(separator: "\n").last,
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else { throw BenchmarkError("peers.py \(arguments.first ?? "") printed no JSON") }
        return object
    }

    /// The timed runs a peers.py command reported under `key` (or at the top level).
    func runs(_ arguments: [String], key: String? = nil) throws -> Runs? {
        let object = try call(arguments)
        let entry = key.map { object[$0] as? [String: Any] } ?? object
        guard let seconds = entry?["seconds"] as? [Double] else { return nil }
        return Runs(seconds: seconds)
    }
}
