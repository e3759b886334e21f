;;; lsp_mode_start_driver.el --- what lsp-mode shows at start with opencode-lsp-mode.el -*- lexical-binding: t; -*-

;; Loaded after editor-configs/emacs/opencode-lsp-mode.el (`emacs -Q --batch'), with the
;; config's own (empty) settings.  Opens EDITOR_TEST_FILE, M-x lsp, waits for the bridge to
;; connect and prints *Messages* (between "TEST: messages" and "TEST: end"); then the control:
;; pushes a bad setting and prints *Messages* again once the bridge's warning is in it.

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-messages ()
  (test-say "messages")
  (with-current-buffer (messages-buffer)
    (princ (concat (buffer-string) "\n") #'external-debugging-output))
  (test-say "end"))

(defun test-wait (what predicate timeout)
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (test-messages)
        (kill-emacs 1))
      (accept-process-output nil 0.1))))

;; What a user answers once per project ("import the project root"), and a session file
;; of the test's own.
(setq lsp-auto-guess-root t
      lsp-session-file (locate-user-emacs-file "lsp-session")
      lsp-enable-file-watchers nil
      lsp-keep-workspace-alive nil)

(find-file (getenv "EDITOR_TEST_FILE"))
(call-interactively #'lsp)              ; M-x lsp
(test-wait "the bridge to connect"
           (lambda ()
             (let ((message (plist-get opencode-lsp-mode-status :message)))
               (and (stringp message) (string-prefix-p "OpenCode 1." message))))
           90)
(test-messages)
(test-say "control")
(with-lsp-workspace (opencode-lsp-mode--workspace)
  (lsp-notify "workspace/didChangeConfiguration" '(:settings (:model "nonsense"))))
(test-wait "the control's warning"
           (lambda () (with-current-buffer (messages-buffer)
                        (save-excursion (goto-char (point-min))
                                        (search-forward "provider/model" nil t))))
           30)
(test-messages)
(kill-emacs 0)
