;;; messages_driver.el --- Emacs (batch) with editor-configs/emacs/opencode-eglot.el -*- lexical-binding: t; -*-

;; Loaded after opencode-eglot.el.  Opens EDITOR_TEST_FILE, M-x eglot, waits for the bridge to
;; connect and prints *Messages* (between "TEST: messages" and "TEST: end" lines).  Then:
;;   EDITOR_TEST_ACTION unset: the control: push a bad setting, print *Messages* again once the
;;     bridge's warning is in it;
;;   "missing-model": ask, wait for the failure, print the mode line, pick the scripted model
;;     with opencode.model.select, ask again, and print *Messages* once the answer came.
;; EDITOR_TEST_BRIDGE_OPTIONS (JSON), when set, is added to the config's own settings.

(require 'json)

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

(defun test-in-messages (text)
  (with-current-buffer (messages-buffer)
    (save-excursion
      (goto-char (point-min))
      (search-forward text nil t))))

(let ((options (getenv "EDITOR_TEST_BRIDGE_OPTIONS")))
  (when options
    (setq opencode-eglot-initialization-options
          (append (json-parse-string options :object-type 'plist :null-object nil
                                     :false-object :json-false)
                  opencode-eglot-initialization-options))))

(find-file (getenv "EDITOR_TEST_FILE"))
(call-interactively #'eglot)
(test-wait "the bridge to connect"
           (lambda ()
             (let ((message (plist-get opencode-eglot-status :message)))
               (and (stringp message) (string-prefix-p "OpenCode 1." message))))
           90)
(test-say "connected")
(test-messages)

(pcase (getenv "EDITOR_TEST_ACTION")
  ("missing-model"
   (opencode-eglot-ask "hello")
   (test-wait "the failure" (lambda () (test-in-messages "has no model")) 90)
   (test-wait "the error status"
              (lambda () (equal (plist-get opencode-eglot-status :state) "error")) 30)
   (test-say "mode line:%s" (opencode-eglot-mode-line))
   (opencode-eglot-execute "opencode.model.select" (vector '(:model "mock/mock-model")))
   (opencode-eglot-ask "hello again")
   (test-wait "the next answer" (lambda () (test-in-messages "Hello from the mock model.")) 90))
  (_
   (test-say "control")
   (jsonrpc-notify (eglot-current-server) :workspace/didChangeConfiguration
                   '(:settings (:model "nonsense")))
   (test-wait "the control's warning" (lambda () (test-in-messages "provider/model")) 30)))
(test-messages)
(kill-emacs 0)
