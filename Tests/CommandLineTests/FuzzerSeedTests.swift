import Foundation
import TestSupport
import Testing

/// `unet-ckpt-fuzz --seed N` gives the same cases in the same order in every process.
@Suite("Fuzzer: reproducible runs")
struct FuzzerSeedTests {
    static let fuzzer = unetCkptExecutable.deletingLastPathComponent().appendingPathComponent("unet-ckpt-fuzz")

    func cases(seed: Int) throws -> [String] {
        let process = Process()
        process.executableURL = Self.fuzzer
        process.arguments = ["--list", "--cases", "40", "--seed", "\(seed)", "--corpus", Fixtures.path("fuzz")]
        // Each process hashes with its own random seed unless this is set: it must not matter.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_DETERMINISTIC_HASHING"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test("two runs with one seed list the same cases in the same order; another seed other cases")
    func sameSeedSameCases() throws {
        let first = try cases(seed: 7)
        // Every format (ten: nii and rdf among them), 40 cases each.
        let formats = Set(first.map { $0.split(separator: " ")[0] }).count
        #expect(formats >= 10)
        #expect(first.count == formats * 40)
        #expect(try cases(seed: 7) == first)
        let other = try cases(seed: 8)
        #expect(other.count == first.count && other != first)
    }
}
