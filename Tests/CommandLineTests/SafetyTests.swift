import Foundation
import TestSupport
import Testing
import UNetCheckpoint

/// The command line never dies by a signal, never hangs, and never leaves a broken output.
@Suite("Command line: crashes, hangs and kills")
struct SafetyTests {
    @Test("a reader that faults becomes one line and exit 2, with nothing written")
    func faultingReader() throws {
        let directory = try TemporaryDirectory()
        let result = try runUNetCkpt(
            ["convert", Fixtures.path("h5py/paper-tiny.h5"), directory.file("out.pth")],
            environment: ["UNET_CKPT_INJECT_FAULT": "segv"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("crashed the reader (signal 11"))
        #expect(result.standardError.split(separator: "\n").count == 1)
        #expect(try directory.contents().isEmpty)
    }

    @Test("a reader that hangs is stopped at the time limit")
    func hangingReader() throws {
        let start = Date()
        let result = try runUNetCkpt(
            ["inspect", Fixtures.path("h5py/paper-tiny.h5")],
            environment: ["UNET_CKPT_INJECT_FAULT": "hang", "UNET_CKPT_TIMEOUT": "1"])
        #expect(result.status == 2)
        #expect(result.standardError.contains("ran longer than 1 s"))
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test("SIGTERM to unet-ckpt ends the supervised command too")
    func terminationForwarded() throws {
        let process = Process()
        process.executableURL = unetCkptExecutable
        process.arguments = ["inspect", Fixtures.path("h5py/paper-tiny.h5")]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "UNET_CKPT_INJECT_FAULT": "hang", "UNET_CKPT_TIMEOUT": "30",
        ]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(1_000_000)
        let start = Date()
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + SIGTERM)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("SIGKILL at random moments while overwriting: the output is the old file or the whole new one")
    func killDuringOverwrite() throws {
        let directory = try TemporaryDirectory()
        let output = directory.file("out.h5")
        #expect(try runUNetCkpt(["convert", Fixtures.path("h5py/paper-tiny.h5"), output]).status == 0)
        let old = try Data(contentsOf: URL(fileURLWithPath: output))
        // The writer itself (unsupervised) is killed, as a power cut or an OOM killer would.
        func startWriter(to destination: String) throws -> Process {
            let process = Process()
            process.executableURL = unetCkptExecutable
            process.arguments = [
                "convert", Fixtures.path("examples/paper-small.h5"), destination, "--compress", "--gzip-level", "9",
            ]
            process.environment = ProcessInfo.processInfo.environment.merging(["UNET_CKPT_UNSUPERVISED": "1"]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        // Kills land at random moments of a whole run, however fast this machine writes.
        let elsewhere = try TemporaryDirectory()
        let start = Date()
        let complete = try startWriter(to: elsewhere.file("timing.h5"))
        complete.waitUntilExit()
        let runMicroseconds = UInt64(Date().timeIntervalSince(start) * 1e6) + 1
        var generator = SplitMix64(seed: 11)
        var outcomes: Set<String> = []
        // At least 12 kills; more (up to 48) while none has landed mid-write, since the timing run
        // above may have been slower than these when other tests load the machine.
        for attempt in 0..<48 {
            if attempt >= 12, try directory.contents().contains(where: { $0.hasPrefix(".out.h5.unet-ckpt-partial-") }) {
                break
            }
            let process = try startWriter(to: output)
            usleep(UInt32(generator.next() % runMicroseconds))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let now = try Data(contentsOf: URL(fileURLWithPath: output))
            if now == old {
                outcomes.insert("old")
            } else {
                let verify = try runUNetCkpt(["verify", output])
                #expect(verify.status == 0, "a broken output after a kill: \(verify.standardOutput)")
                #expect(verify.standardOutput.contains("46 tensors"))
                outcomes.insert("new")
            }
        }
        // Kills that landed mid-write left temporary files beside the output, never a broken output.
        let leftovers = try directory.contents().filter { $0.hasPrefix(".out.h5.unet-ckpt-partial-") }
        #expect(!leftovers.isEmpty, "no kill landed during a write: \(outcomes)")
        // One more complete run removes what the killed writers left behind.
        #expect(try runUNetCkpt(["convert", Fixtures.path("examples/paper-small.h5"), output]).status == 0)
        #expect(try directory.contents() == ["out.h5"])
        #expect(!outcomes.isEmpty)
    }

    @Test("a write removes the temporary files that dead writers left in its folder, and only those")
    func leftoversOfDeadWriters() throws {
        let directory = try TemporaryDirectory()
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // A pid above Linux's largest pid_max (2^22) belongs to no process.
        let dead = [
            ".model.h5.unet-ckpt-partial-\(host)-4194305-k3j9", ".notes.pth.unet-ckpt-partial-\(host)-4194306-a1",
            ".unet-ckpt-tmp-4194307-zz-old.h5",  // an earlier version's name
        ]
        let alive = [
            ".out.h5.unet-ckpt-partial-\(host)-\(getpid())-q7",  // this test process runs
            ".out.h5.unet-ckpt-partial-other-machine-4194305-b2",  // another machine's writer
            "model.h5.unet-ckpt-partial-notes.txt",  // not one of ours
        ]
        for file in dead + alive {
            #expect(FileManager.default.createFile(atPath: directory.file(file), contents: Data()))
        }
        let result = try runUNetCkpt(["convert", Fixtures.path("h5py/paper-tiny.h5"), directory.file("out.pth")])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try directory.contents() == (alive + ["out.pth"]).sorted())
    }
}

/// Damaged files of every format give one line on stderr and exit 2.
@Suite("Command line: truncated files")
struct TruncatedFileTests {
    static let files = [
        "h5py/paper-tiny.h5", "pytorch/milesial-tiny.pth", "safetensors/milesial-tiny.safetensors",
        "keras/unet-tiny.h5", "keras/unet-tiny.weights.h5", "keras/unet-tiny.keras",
    ]

    @Test("a file cut in half is refused in one line", arguments: files)
    func truncated(_ relative: String) throws {
        let directory = try TemporaryDirectory()
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(relative)))
        let name = URL(fileURLWithPath: relative).lastPathComponent
        let damaged = directory.file("cut-" + name)
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: damaged))
        for command in [["inspect", damaged], ["convert", damaged, directory.file("out.h5")]] {
            let result = try runUNetCkpt(command)
            #expect(result.status == 2, "\(command): \(result.standardError)")
            #expect(result.standardError.hasPrefix("error: "), "\(result.standardError)")
            #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
        }
        #expect(try directory.contents() == ["cut-" + name])
    }

    @Test("a truncated .npy input is refused in one line")
    func truncatedArray() throws {
        let directory = try TemporaryDirectory()
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tiling/paper-tiny-whole.input.npy")))
        try data.prefix(data.count - 7).write(to: URL(fileURLWithPath: directory.file("cut.npy")))
        let result = try runUNetCkpt([
            "predict", Fixtures.path("h5py/paper-tiny.h5"), "--input", directory.file("cut.npy"), "--output",
            directory.file("o.npy"),
        ])
        #expect(result.status == 2)
        #expect(result.standardError.contains("the data holds"))
        #expect(result.standardError.split(separator: "\n").count == 1)
    }
}
